// Compact stored form of a decision's scored candidates. A call scores every offering (~50), and as
// plain objects they are ~26 KB of JSON per decision, most of it the same 18 key names repeated 50 times
// (and the 5 price keys inside each): stringified on every write, copied into SQLite's overflow pages,
// parsed on every read. Stored here as positional tuples under one key list (~10 KB), losslessly: a
// candidate (or price) whose own keys differ from the list is kept as the plain object it was.
// Encoded by the gateway when it writes the record; decoded by its readers (decisionDetail in the API,
// the gateway's idempotent replay) through decodeCandidates.
import type { ScoredCandidate } from '../routing/types.js';

/** Marker of the compact form (a stored decision's `candidates` is either this or a plain array). */
const FORM = 'cand.tuples.v1';

export interface EncodedCandidates {
  form: typeof FORM;
  /** Candidate keys, in tuple order. */
  keys: string[];
  /** Keys of the nested price, in tuple order (its tuple sits at the `price` key's position). */
  priceKeys: string[];
  /** One tuple per candidate, or the candidate itself when its keys differ from `keys`. */
  rows: (unknown[] | Record<string, unknown>)[];
}

type Obj = Record<string, unknown>;

function sameKeys(o: Obj, keys: readonly string[]): boolean {
  let n = 0;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
    if (o[k] === undefined || keys[n] !== k) return false;
    n++;
  }
  return n === keys.length;
}

function ownKeys(o: Obj): string[] {
  return Object.keys(o).filter((k) => o[k] !== undefined);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Candidates → compact form. Lossless under JSON round trip (what the store keeps). */
export function encodeCandidates(candidates: readonly ScoredCandidate[]): EncodedCandidates {
  const first = candidates[0] as unknown as Obj | undefined;
  const keys = first ? ownKeys(first) : [];
  const firstPrice = first?.price;
  const priceKeys = isObj(firstPrice) ? ownKeys(firstPrice) : [];
  const pricePos = keys.indexOf('price');
  const rows: EncodedCandidates['rows'] = new Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i] as unknown as Obj;
    const price = c.price;
    if (!sameKeys(c, keys) || (pricePos >= 0 && !(isObj(price) && sameKeys(price, priceKeys)))) {
      rows[i] = c;
      continue;
    }
    const row = new Array<unknown>(keys.length);
    for (let k = 0; k < keys.length; k++) row[k] = c[keys[k]!];
    if (pricePos >= 0) {
      const p = price as Obj;
      const t = new Array<unknown>(priceKeys.length);
      for (let k = 0; k < priceKeys.length; k++) t[k] = p[priceKeys[k]!];
      row[pricePos] = t;
    }
    rows[i] = row;
  }
  return { form: FORM, keys, priceKeys, rows };
}

function isEncoded(v: unknown): v is EncodedCandidates {
  return isObj(v) && v.form === FORM && Array.isArray(v.keys) && Array.isArray(v.priceKeys) && Array.isArray(v.rows);
}

/** Stored candidates (compact or, for records written before it, a plain array) → candidates. */
export function decodeCandidates(stored: unknown): ScoredCandidate[] | undefined {
  if (Array.isArray(stored)) return stored as ScoredCandidate[];
  if (!isEncoded(stored)) return undefined;
  const { keys, priceKeys, rows } = stored;
  const pricePos = keys.indexOf('price');
  return rows.map((row) => {
    if (!Array.isArray(row)) return row as unknown as ScoredCandidate;
    const c: Obj = {};
    for (let k = 0; k < keys.length; k++) c[keys[k]!] = row[k];
    if (pricePos >= 0 && Array.isArray(row[pricePos])) {
      const t = row[pricePos] as unknown[];
      const p: Obj = {};
      for (let k = 0; k < priceKeys.length; k++) p[priceKeys[k]!] = t[k];
      c.price = p;
    }
    return c as unknown as ScoredCandidate;
  });
}
