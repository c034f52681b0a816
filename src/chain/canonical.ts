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

// Entries come in a handful of shapes (one per kind), so remember each shape's sorted member order.
// Only for shapes whose names are all non-empty [A-Za-z0-9_]+: then joining with ',' is unambiguous
// (no two different name lists share an id). Any other shape is sorted afresh, never cached.
const shapeCache = new Map<string, string[]>();
function sortedKeys(rec: Record<string, unknown>): string[] {
  const keys = Object.keys(rec);
  for (const k of keys) if (!PLAIN_NAME.test(k)) return keys.sort();
  const id = keys.join(',');
  const cached = shapeCache.get(id);
  if (cached) return cached;
  const sorted = keys.sort();
  if (shapeCache.size >= 512) shapeCache.clear();
  shapeCache.set(id, sorted);
  return sorted;
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
  const keys = sortedKeys(rec);
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = rec[key];
    if (v === undefined) continue;
    let text: string;
    if (typeof v === 'string') {
      if (!isWellFormedString(v)) throw new CanonicalJsonError(`${key}: string contains a lone surrogate`, key);
      text = JSON.stringify(v);
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) {
        throw new CanonicalJsonError(`${key}: ${v} is not a safe integer (entry numbers are integers, money in micro-USD)`, key);
      }
      text = v === 0 ? '0' : String(v);
    } else {
      throw new CanonicalJsonError(`${key}: entry fields are strings and integers only, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`, key);
    }
    let name: string;
    if (PLAIN_NAME.test(key)) {
      name = `"${key}"`; // nothing to escape
    } else {
      if (!isWellFormedString(key)) throw new CanonicalJsonError('field name contains a lone surrogate', key);
      name = JSON.stringify(key);
    }
    out += (first ? '' : ',') + name + ':' + text;
    first = false;
  }
  return out + '}';
}
