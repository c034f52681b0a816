// Input checks shared by both adapters: every write validates first, so bad input changes nothing
// and the error names the field at fault.
import type { AgentRecord, ChainHeadRef, DecisionOutcome, DecisionRecord, StoredCheckpoint, StoredEntry } from './port.js';
import { StoreInputError } from './port.js';

/** Money is integer micro-USD: a non-negative safe integer. */
export function assertMicros(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StoreInputError(`${field} must be a non-negative safe integer (micro-USD), got ${String(value)}`, field);
  }
}

/** A seq, index, size or page limit: a non-negative safe integer. */
export function assertSeq(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StoreInputError(`${field} must be a non-negative safe integer, got ${String(value)}`, field);
  }
}

/** Same rule as a seq (kept as its own name where it reads better). */
export const assertLimit: (value: unknown, field: string) => asserts value is number = assertSeq;

export function assertString(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new StoreInputError(`${field} must be a non-empty string`, field);
  }
}

const HOLD_KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A hold's key (its decision id). Restricted to what is safe as a MongoDB field name (the agent document
 * keys its open holds by it: no '.', no leading '$'), checked in both adapters so they accept the same ids.
 */
export function assertHoldKey(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !HOLD_KEY_RE.test(value)) {
    throw new StoreInputError(`${field} must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'`, field);
  }
}

/** An ISO time in the one canonical form (toISOString), so that string order is time order. */
export function assertIsoTime(value: unknown, field: string): asserts value is string {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms) || new Date(ms).toISOString() !== value) {
    throw new StoreInputError(`${field} must be an ISO time as toISOString() writes it (YYYY-MM-DDTHH:mm:ss.sssZ)`, field);
  }
}

/** The fields of a new agent both adapters check before writing anything. */
export function assertAgentRecord(agent: AgentRecord): void {
  assertString(agent.id, 'id');
  assertString(agent.handle, 'handle');
  assertString(agent.keyHash, 'keyHash');
  assertString(agent.createdAt, 'createdAt');
  assertMicros(agent.balanceMicros, 'balanceMicros');
}

const HASH_RE = /^0x[0-9a-f]{64}$/;

/** Checks a batch for append: consecutive seqs from after.seq + 1, every field present. */
export function assertBatch(after: ChainHeadRef | null, entries: readonly StoredEntry[]): void {
  if (after !== null) {
    assertSeq(after.seq, 'after.seq');
    if (typeof after.hash !== 'string' || !HASH_RE.test(after.hash)) {
      throw new StoreInputError('after.hash must be 0x + 64 lowercase hex', 'after.hash');
    }
  }
  if (!Array.isArray(entries)) throw new StoreInputError('entries must be an array', 'entries');
  let expected = after === null ? 0 : after.seq + 1;
  entries.forEach((e, i) => {
    const at = `entries[${i}]`;
    if (e === null || typeof e !== 'object') throw new StoreInputError(`${at} must be an object`, at);
    if (e.seq !== expected) {
      throw new StoreInputError(`${at}.seq must be ${expected} (consecutive after the head), got ${String(e.seq)}`, `${at}.seq`);
    }
    if (typeof e.hash !== 'string' || !HASH_RE.test(e.hash)) {
      throw new StoreInputError(`${at}.hash must be 0x + 64 lowercase hex`, `${at}.hash`);
    }
    for (const f of ['sig', 'keyId', 'canonical', 'kind', 'agent', 'decision', 'time'] as const) {
      if (typeof e[f] !== 'string') throw new StoreInputError(`${at}.${f} must be a string`, `${at}.${f}`);
    }
    expected++;
  });
}

export function assertCheckpoint(cp: Omit<StoredCheckpoint, 'index'>): void {
  assertSeq(cp.size, 'size');
  if (typeof cp.rootHash !== 'string' || !HASH_RE.test(cp.rootHash)) {
    throw new StoreInputError('rootHash must be 0x + 64 lowercase hex', 'rootHash');
  }
  assertString(cp.time, 'time');
  assertString(cp.note, 'note');
}

export const DECISION_OUTCOMES: readonly DecisionOutcome[] = ['pending', 'completed', 'failed', 'rejected'];

type DecisionPatch = Partial<Omit<DecisionRecord, 'id' | 'agentId' | 'createdAt'>>;

const PATCHABLE = new Set<string>([
  'taskType',
  'model',
  'provider',
  'outcome',
  'holdMicros',
  'costMicros',
  'latencyMs',
  'idempotencyKey',
  'chainSeqs',
  'detail',
  'feedback',
]);

function assertNullableString(value: unknown, field: string): void {
  if (value !== null && typeof value !== 'string') throw new StoreInputError(`${field} must be a string or null`, field);
}

/** Validates the fields present in `d` (all of them for an insert, the patched ones for an update). */
export function assertDecisionFields(d: DecisionPatch & Partial<DecisionRecord>, full: boolean): void {
  if (!full) {
    for (const k of Object.keys(d)) {
      if (!PATCHABLE.has(k)) throw new StoreInputError(`${k} cannot be updated`, k);
    }
  } else {
    assertString(d.id, 'id');
    assertString(d.agentId, 'agentId');
    assertString(d.createdAt, 'createdAt');
  }
  const has = (k: string) => full || Object.prototype.hasOwnProperty.call(d, k);
  if (has('taskType')) assertString(d.taskType, 'taskType');
  if (has('model')) assertNullableString(d.model, 'model');
  if (has('provider')) assertNullableString(d.provider, 'provider');
  if (has('outcome') && !DECISION_OUTCOMES.includes(d.outcome as DecisionOutcome)) {
    throw new StoreInputError(`outcome must be one of ${DECISION_OUTCOMES.join(', ')}`, 'outcome');
  }
  if (has('holdMicros')) assertMicros(d.holdMicros, 'holdMicros');
  if (has('costMicros')) assertMicros(d.costMicros, 'costMicros');
  if (has('latencyMs') && d.latencyMs !== null && !(typeof d.latencyMs === 'number' && Number.isFinite(d.latencyMs) && d.latencyMs >= 0)) {
    throw new StoreInputError('latencyMs must be a non-negative finite number or null', 'latencyMs');
  }
  if (has('idempotencyKey')) assertNullableString(d.idempotencyKey, 'idempotencyKey');
  if (has('chainSeqs')) {
    if (!Array.isArray(d.chainSeqs)) throw new StoreInputError('chainSeqs must be an array of seqs', 'chainSeqs');
    d.chainSeqs.forEach((s, i) => assertSeq(s, `chainSeqs[${i}]`));
  }
  if (has('feedback') && d.feedback !== null) {
    const f = d.feedback;
    if (typeof f !== 'object' || f === undefined || typeof f.success !== 'boolean' || typeof f.at !== 'string' || (f.reason !== null && typeof f.reason !== 'string')) {
      throw new StoreInputError('feedback must be { success: boolean, reason: string | null, at: string } or null', 'feedback');
    }
  }
}

/** JSON text for an opaque value column; `undefined` is stored as null so both adapters round-trip alike. */
export function toJson(value: unknown, field: string): string {
  try {
    return JSON.stringify(value ?? null);
  } catch (err) {
    throw new StoreInputError(`${field} must be JSON-serializable: ${(err as Error).message}`, field);
  }
}

/** Whether the stored head is exactly `after` (both null on an empty chain). */
export function sameHead(cur: ChainHeadRef | null, after: ChainHeadRef | null): boolean {
  if (cur === null || after === null) return cur === after;
  return cur.seq === after.seq && cur.hash === after.hash;
}

/** Upper bound for a prefix range scan: above every UTF-8 string that starts with `prefix`. */
export function prefixUpperBound(prefix: string): string {
  return `${prefix}\u{10FFFF}`;
}

/** Arguments of AccountsStore.openHolds, checked the same way by every adapter. */
export function assertOpenHoldsArgs(before: unknown, limit: unknown, after: { createdAt: unknown; decisionId: unknown } | undefined): void {
  assertIsoTime(before, 'before');
  assertLimit(limit, 'limit');
  if (after !== undefined) {
    assertIsoTime(after.createdAt, 'after.createdAt');
    assertHoldKey(after.decisionId, 'after.decisionId');
  }
}
