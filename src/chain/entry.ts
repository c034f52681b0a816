// Building, validating and encoding chain entries (the signed objects). The rules here are the
// format contract of DESIGN.md "The chain"; docs/chain-format.md states them for third parties.
// Pure module.
import { CanonicalJsonError, canonicalEntryJson } from './canonical.js';
import { isHex0x, isWellFormedString, utf8Encode } from './encoding.js';
import { ENTRY_FORMAT_VERSION, GENESIS_PREV, type ChainEntry, type EntryFieldValue, type EventInput } from './types.js';

/** Domain separator prepended to the 32 hash bytes before signing: a signature over an entry can never be replayed as anything else. */
export const ENTRY_SIG_DOMAIN = 'ainfera/entry/v1\n';
const ENTRY_SIG_DOMAIN_BYTES = utf8Encode(ENTRY_SIG_DOMAIN);

/** Top-level names the sequencer owns (or that envelopes use); kind-specific fields may not reuse them. */
export const RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set([
  'v',
  'seq',
  'time',
  'kind',
  'agent',
  'decision',
  'model',
  'provider',
  'prev',
  'hash',
  'sig',
  'keyId',
]);

/** Kind-specific field names: lowerCamel/snake ASCII, so they are stable JSON keys in every language. */
export const FIELD_NAME_PATTERN = /^[a-z][A-Za-z0-9_]{0,63}$/;
/** Kinds: lowercase snake case. Verifiers accept any kind matching this; the router writes ENTRY_KINDS. */
export const KIND_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** RFC 3339 UTC with exactly millisecond precision, as Date.prototype.toISOString writes it. */
export const ENTRY_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Upper bounds that keep one entry small (the chain is public; these are ids, hashes and numbers, never text). */
export const MAX_STRING_LENGTH = 1024;
export const MAX_FIELDS = 64;

export type EntryErrorCode = 'required' | 'type' | 'format' | 'reserved' | 'too_long' | 'too_many' | 'not_integer';

/** Bad entry input: `field` names the offending field; nothing was built. */
export class EntryValidationError extends Error {
  override readonly name = 'EntryValidationError';
  constructor(
    readonly field: string,
    readonly code: EntryErrorCode,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function checkString(field: string, value: unknown, { required = true, pattern }: { required?: boolean; pattern?: RegExp } = {}): void {
  if (value === undefined && !required) return;
  if (value === undefined || value === null) throw new EntryValidationError(field, 'required', 'is required');
  if (typeof value !== 'string') throw new EntryValidationError(field, 'type', `must be a string, got ${typeof value}`);
  if (value.length === 0) throw new EntryValidationError(field, 'required', 'must not be empty');
  if (value.length > MAX_STRING_LENGTH) throw new EntryValidationError(field, 'too_long', `longer than ${MAX_STRING_LENGTH} characters`);
  if (!isWellFormedString(value)) throw new EntryValidationError(field, 'format', 'contains a lone UTF-16 surrogate');
  if (pattern && !pattern.test(value)) throw new EntryValidationError(field, 'format', `must match ${pattern}`);
}

function checkFieldValue(field: string, value: unknown): EntryFieldValue {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new EntryValidationError(field, 'not_integer', `${value} is not a safe integer (numbers are integers; money is integer micro-USD)`);
    }
    return value === 0 ? 0 : value; // normalize -0
  }
  if (typeof value === 'string') {
    if (value.length > MAX_STRING_LENGTH) throw new EntryValidationError(field, 'too_long', `longer than ${MAX_STRING_LENGTH} characters`);
    if (!isWellFormedString(value)) throw new EntryValidationError(field, 'format', 'contains a lone UTF-16 surrogate');
    return value;
  }
  const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new EntryValidationError(field, 'type', `must be a string or an integer, got ${what}`);
}

/** Days before each month in a common year (January = index 0). */
const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
const DAY_MS = 86_400_000;

/** Decimal value of `len` ASCII digits at `from`, or -1 if any of them is not 0-9. */
function digits(s: string, from: number, len: number): number {
  let n = 0;
  for (let i = from; i < from + len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Milliseconds since the epoch of an entry time, or NaN unless it is a real UTC instant written as
 * toISOString writes it (ENTRY_TIME_PATTERN, and a real calendar date and time of day). Checked and
 * converted by hand, with no Date.parse: this runs once per entry on the verifier's hot path. Same
 * result as Date.parse for every accepted string (property-tested in test/chain/entry.test.ts).
 */
export function entryTimeMs(time: unknown): number {
  // YYYY-MM-DDTHH:MM:SS.mmmZ: 24 characters, separators at fixed places.
  if (typeof time !== 'string' || time.length !== 24) return NaN;
  if (
    time.charCodeAt(4) !== 45 || // -
    time.charCodeAt(7) !== 45 ||
    time.charCodeAt(10) !== 84 || // T
    time.charCodeAt(13) !== 58 || // :
    time.charCodeAt(16) !== 58 ||
    time.charCodeAt(19) !== 46 || // .
    time.charCodeAt(23) !== 90 // Z
  ) {
    return NaN;
  }
  const year = digits(time, 0, 4);
  const month = digits(time, 5, 2);
  const day = digits(time, 8, 2);
  const hour = digits(time, 11, 2);
  const minute = digits(time, 14, 2);
  const second = digits(time, 17, 2);
  const milli = digits(time, 20, 3);
  if (year < 0 || milli < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return NaN;
  }
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const monthDays = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > monthDays) return NaN;
  // Days since 1970-01-01 in the proleptic Gregorian calendar (what Date uses), via days since 0000-03-01.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = DAYS_BEFORE_MONTH[month - 1]! + (month > 2 ? -59 : 306) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146_097 + dayOfEra - 719_468;
  return days * DAY_MS + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
}

/** True for a real UTC instant written as toISOString writes it. */
export function isEntryTime(time: unknown): time is string {
  return !Number.isNaN(entryTimeMs(time));
}

/**
 * Build the signed object for one event. The sequencer supplies seq, time and prev; everything is
 * validated and a typed EntryValidationError names the first bad field.
 */
export function buildEntry(input: EventInput, seq: number, time: string, prev: string): ChainEntry {
  if (typeof input !== 'object' || input === null) throw new EntryValidationError('input', 'type', 'must be an object');
  if (!Number.isSafeInteger(seq) || seq < 0) throw new EntryValidationError('seq', 'not_integer', 'must be a non-negative safe integer');
  if (!isEntryTime(time)) throw new EntryValidationError('time', 'format', 'must be RFC 3339 UTC with milliseconds, e.g. 2026-11-24T13:12:10.123Z');
  if (!isHex0x(prev, 32)) throw new EntryValidationError('prev', 'format', 'must be 0x + 64 lowercase hex digits');
  if (seq === 0 && prev !== GENESIS_PREV) throw new EntryValidationError('prev', 'format', 'must be the genesis value (0x + 64 zeros) at seq 0');
  checkString('kind', input.kind, { pattern: KIND_PATTERN });
  checkString('agent', input.agent);
  checkString('decision', input.decision);
  checkString('model', input.model, { required: false });
  checkString('provider', input.provider, { required: false });

  const entry: ChainEntry = {
    v: ENTRY_FORMAT_VERSION,
    seq,
    time,
    kind: input.kind,
    agent: input.agent,
    decision: input.decision,
    prev,
  };
  if (input.model !== undefined) entry.model = input.model;
  if (input.provider !== undefined) entry.provider = input.provider;

  const fields = input.fields;
  if (fields !== undefined) {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      throw new EntryValidationError('fields', 'type', 'must be an object of strings and integers');
    }
    const names = Object.keys(fields);
    if (names.length > MAX_FIELDS) throw new EntryValidationError('fields', 'too_many', `at most ${MAX_FIELDS} fields`);
    for (const name of names) {
      const field = `fields.${name}`;
      if (RESERVED_FIELD_NAMES.has(name)) throw new EntryValidationError(field, 'reserved', `"${name}" is a reserved entry field`);
      if (!FIELD_NAME_PATTERN.test(name)) throw new EntryValidationError(field, 'format', `field names must match ${FIELD_NAME_PATTERN}`);
      entry[name] = checkFieldValue(field, fields[name]);
    }
  }
  return entry;
}

/** isHex0x(value, 32) as a plain loop: a regex call per entry costs more on the verifier's hot path. */
function isHash0x(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 66 || value.charCodeAt(0) !== 48 || value.charCodeAt(1) !== 120) return false;
  for (let i = 2; i < 66; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false; // 0-9 a-f
  }
  return true;
}

/**
 * Problems with the fixed fields of a received entry (version, seq, time, prev, kind, agent, decision,
 * model, provider; no envelope fields inside). Kind-specific field types are not looked at here (the
 * canonical encoder rejects those). Returns the time in ms when fine, else the problem.
 */
export function entryHeaderProblem(entry: unknown): { problem: string } | { timeMs: number } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { problem: 'entry is not an object' };
  const e = entry as Record<string, unknown>;
  if (e.v !== ENTRY_FORMAT_VERSION) return { problem: `unsupported format version v=${String(e.v)}` };
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 0) return { problem: 'seq is not a non-negative integer' };
  const timeMs = entryTimeMs(e.time);
  if (Number.isNaN(timeMs)) return { problem: 'time is not RFC 3339 UTC with milliseconds' };
  if (!isHash0x(e.prev)) return { problem: 'prev is not 0x + 64 hex digits' };
  for (const k of ['kind', 'agent', 'decision'] as const) {
    if (typeof e[k] !== 'string' || (e[k] as string).length === 0) return { problem: `${k} is not a non-empty string` };
  }
  for (const k of ['model', 'provider'] as const) {
    if (e[k] !== undefined && typeof e[k] !== 'string') return { problem: `${k} is not a string` };
  }
  if ('hash' in e || 'sig' in e || 'keyId' in e) return { problem: 'hash, sig and keyId belong in the envelope, not in the signed entry' };
  return { timeMs };
}

/** Why an entry received from somewhere else does not follow the format (undefined if it does). */
export function entryFormatProblem(entry: unknown): string | undefined {
  const head = entryHeaderProblem(entry);
  if ('problem' in head) return head.problem;
  const e = entry as Record<string, unknown>;
  for (const [k, v] of Object.entries(e)) {
    if (typeof v === 'string') continue;
    if (typeof v === 'number' && Number.isSafeInteger(v)) continue;
    return `field ${k} is not a string or a safe integer`;
  }
  return undefined;
}

/** RFC 8785 string of an entry (its UTF-8 is what is hashed). Throws EntryValidationError for non-conforming values. */
export function entryCanonical(entry: ChainEntry): string {
  try {
    return canonicalEntryJson(entry);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new EntryValidationError(err.path, 'type', err.message);
    throw err;
  }
}

/** RFC 8785 bytes of an entry (what is hashed). Throws EntryValidationError for non-conforming values. */
export function encodeEntry(entry: ChainEntry): { canonical: string; bytes: Uint8Array } {
  const canonical = entryCanonical(entry);
  return { canonical, bytes: utf8Encode(canonical) };
}

/** `ainfera/entry/v1\n` ‖ the 32 leaf-hash bytes: the exact message each entry signature covers. */
export function entrySigningMessage(hash32: Uint8Array): Uint8Array {
  if (hash32.length !== 32) throw new TypeError('entry hash must be 32 bytes');
  const msg = new Uint8Array(ENTRY_SIG_DOMAIN_BYTES.length + 32);
  msg.set(ENTRY_SIG_DOMAIN_BYTES);
  msg.set(hash32, ENTRY_SIG_DOMAIN_BYTES.length);
  return msg;
}
