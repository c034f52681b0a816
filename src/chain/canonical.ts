// RFC 8785 JSON Canonicalization Scheme (JCS): the byte form that is hashed and signed.
// `canonicalize` implements JCS on top of ECMAScript's own number and string serialization, which is
// what the RFC specifies. Pure module.
import canonicalize from 'canonicalize';
import { isWellFormedString } from './encoding.js';

/** A value cannot be canonicalized (or breaks the chain's entry rules). `path` names the offending field. */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

function check(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (!isWellFormedString(value)) throw new CanonicalJsonError(`${path}: string contains a lone surrogate`, path);
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path}: ${value} is not a JSON number`, path);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new CanonicalJsonError(`${path}: circular reference`, path);
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((v, i) => check(v, `${path}[${i}]`, seen));
      } else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) {
          throw new CanonicalJsonError(`${path}: only plain objects can be canonicalized`, path);
        }
        for (const [k, v] of Object.entries(value)) {
          if (!isWellFormedString(k)) throw new CanonicalJsonError(`${path}: property name contains a lone surrogate`, path);
          if (v !== undefined) check(v, `${path}.${k}`, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} has no JSON form`, path);
  }
}

/**
 * RFC 8785 canonical JSON of any JSON value (numbers may be fractional here; entries forbid that, see
 * canonicalEntryJson). Rejects what JSON cannot express instead of silently dropping or converting it:
 * NaN/Infinity, lone surrogates, bigint, functions, class instances (Date, Map...), cycles.
 * Properties whose value is `undefined` are omitted (as JSON.stringify does).
 */
export function canonicalJson(value: unknown): string {
  check(value, '$', new Set());
  const out = canonicalize(value);
  if (out === undefined) throw new CanonicalJsonError('$: value has no JSON form', '$');
  return out;
}

const PLAIN_NAME = /^[A-Za-z0-9_]+$/;

/**
 * One member order ("shape") of an entry: the names as Object.keys listed them, their JCS order, and
 * for each sorted name its JSON form followed by ':' (null for a name with a lone surrogate, which is
 * refused when that member is reached, as the unoptimized loop did).
 */
interface Shape {
  readonly seen: readonly string[];
  readonly sorted: readonly string[];
  readonly names: readonly (string | null)[];
}

// Entries come in a handful of shapes (one per kind), so each shape's sorted order and name prefixes
// are built once. A shape is found by comparing Object.keys element-wise (===, exact: no id string to
// collide, no join per entry). Bounded: a stream of hostile shapes only recycles these slots.
const MAX_SHAPES = 64;
const MAX_SHAPE_KEYS = 128;
const shapes: Shape[] = [];
let nextSlot = 0;

function buildShape(keys: string[]): Shape {
  const seen = keys.slice();
  const sorted = keys.sort(); // default sort = UTF-16 code unit order, as RFC 8785 §3.2.3 asks
  const names = sorted.map((k) => (PLAIN_NAME.test(k) ? `"${k}":` : isWellFormedString(k) ? `${JSON.stringify(k)}:` : null));
  return { seen, sorted, names };
}

function shapeOf(keys: string[]): Shape {
  const n = keys.length;
  for (let s = 0; s < shapes.length; s++) {
    const seen = shapes[s]!.seen;
    if (seen.length !== n) continue;
    let i = 0;
    while (i < n && seen[i] === keys[i]) i++;
    if (i === n) return shapes[s]!;
  }
  const shape = buildShape(keys);
  if (n <= MAX_SHAPE_KEYS) {
    shapes[nextSlot] = shape;
    nextSlot = (nextSlot + 1) % MAX_SHAPES;
  }
  return shape;
}

/** True if JSON.stringify would write `v` as is between quotes: no '"', '\\', control character or surrogate. */
function isPlainString(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

function stringValue(key: string, v: string): string {
  if (isPlainString(v)) return `"${v}"`; // nothing to escape, no surrogate at all (the slow path checks pairs)
  if (!isWellFormedString(v)) throw new CanonicalJsonError(`${key}: string contains a lone surrogate`, key);
  return JSON.stringify(v);
}

/**
 * Canonical JSON of a chain entry: a flat object whose values are strings or safe integers only
 * (the contract in DESIGN.md "The chain"). Anything else throws a CanonicalJsonError naming the field.
 */
export function canonicalEntryJson(entry: unknown): string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new CanonicalJsonError('entry must be a JSON object', '$');
  }
  const proto = Object.getPrototypeOf(entry) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError('entry must be a plain object', '$');
  const rec = entry as Record<string, unknown>;
  // Flat objects of strings and safe integers only, so the JCS rules reduce to: keys sorted by UTF-16
  // code units (Array.prototype.sort's default order), strings as JSON.stringify writes them, integers
  // in decimal. That is exactly what `canonicalize` produces for such objects (property-tested against
  // it in test/chain/canonical.test.ts), without its generic recursion: this is the verifier's hot path.
  const { sorted, names } = shapeOf(Object.keys(rec));
  let out = '{';
  let first = true;
  for (let i = 0; i < sorted.length; i++) {
    const key = sorted[i]!;
    const v = rec[key];
    if (v === undefined) continue;
    let text: string;
    if (typeof v === 'string') {
      text = stringValue(key, v);
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) {
        throw new CanonicalJsonError(`${key}: ${v} is not a safe integer (entry numbers are integers, money in micro-USD)`, key);
      }
      text = v === 0 ? '0' : String(v); // -0 is written 0
    } else {
      throw new CanonicalJsonError(`${key}: entry fields are strings and integers only, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`, key);
    }
    const name = names[i];
    if (name === null) throw new CanonicalJsonError('field name contains a lone surrogate', key);
    out += (first ? '' : ',') + name + text;
    first = false;
  }
  return out + '}';
}
