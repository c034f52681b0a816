// The storage port: everything the rest of the system asks of persistent storage.
// Two adapters implement it (embedded SQLite, MongoDB) and one contract suite (test/store/contract.ts)
// runs against both. Keep it narrow: callers never see SQL or Mongo documents.

/** A chain entry as persisted: the exact canonical bytes plus indexed copies for queries. */
export interface StoredEntry {
  seq: number;
  /** `0x` + 64 lowercase hex: leaf hash of `canonical` */
  hash: string;
  /** base64 Ed25519 signature */
  sig: string;
  keyId: string;
  /** The exact RFC 8785 bytes of the entry, as a UTF-8 string. Verification hashes these; never re-serialize. */
  canonical: string;
  // Indexed copies of fields inside `canonical`, for filters (agent, decision) and the live feed.
  kind: string;
  agent: string;
  decision: string;
  time: string;
}

export interface ChainHeadRef {
  seq: number;
  hash: string;
}

export type AppendResult = { ok: true } | { ok: false; head: ChainHeadRef | null };

/** A signed checkpoint; `index` is the block height shown on the trace (0-based, gap-free). */
export interface StoredCheckpoint {
  index: number;
  size: number;
  /** `0x` + hex root hash of the first `size` leaves */
  rootHash: string;
  time: string;
  /** The C2SP signed-note text, exactly as served. */
  note: string;
}

export interface EntryWatch {
  close(): void;
}

export interface ChainStore {
  /** Last appended entry, or null on an empty chain. Always read from storage (another process may have appended). */
  head(): Promise<ChainHeadRef | null>;
  /**
   * Append a batch atomically, if and only if the stored head is still `after` (null: empty chain).
   * Resolves only once the batch is durable. On a head mismatch nothing is written and the current
   * head is returned, so the single sequencer can re-sequence: two writers can never fork the chain.
   * Entries must be consecutive seqs starting at after.seq + 1 (0 on an empty chain).
   * A malformed batch or head throws StoreInputError (nothing written); an empty batch is a no-op that
   * still reports a stale head. Any other error (I/O, lost connection) means the outcome is unknown:
   * re-read head() before re-sequencing (MongoDB: a batch whose commit landed is completed by head()).
   */
  append(after: ChainHeadRef | null, entries: StoredEntry[]): Promise<AppendResult>;
  /** Entries with seq in [fromSeq, fromSeq + limit), in seq order. */
  entries(fromSeq: number, limit: number): Promise<StoredEntry[]>;
  entry(seq: number): Promise<StoredEntry | null>;
  /** Leaf hashes of seqs [fromSeq, toSeq), in order (used to rebuild the Merkle tree on start). */
  leafHashes(fromSeq: number, toSeq: number): Promise<string[]>;
  /** Entries of one decision, in seq order. */
  entriesOfDecision(decision: string): Promise<StoredEntry[]>;

  /**
   * Record a checkpoint. Idempotent by size: if one with the same size exists it is returned unchanged
   * (two processes may cut the same size). A checkpoint whose size is not larger than the latest is refused.
   */
  addCheckpoint(cp: Omit<StoredCheckpoint, 'index'>): Promise<StoredCheckpoint>;
  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  checkpointBySize(size: number): Promise<StoredCheckpoint | null>;
  checkpointByIndex(index: number): Promise<StoredCheckpoint | null>;
  /** Checkpoints with index in [fromIndex, fromIndex + limit), in order. */
  checkpoints(fromIndex: number, limit: number): Promise<StoredCheckpoint[]>;

  /**
   * Live feed: calls `onEntries` with every entry of seq >= fromSeq, in order, exactly once, as it becomes
   * durable from any process sharing this store (MongoDB: change streams on a replica set, polling by seq
   * elsewhere; SQLite: polling by seq, woken at once by appends from this process).
   * An exception thrown by `onEntries` goes to `onError`; those entries still count as delivered.
   */
  watch(fromSeq: number, onEntries: (entries: StoredEntry[]) => void, onError?: (err: Error) => void): EntryWatch;
}

/** Money is integer micro-USD everywhere. */
export type Micros = number;

export interface AgentRecord {
  id: string;
  /** Public handle shown on the chain. Unique. */
  handle: string;
  /** SHA-256 hex of the API key; the key itself is never stored. */
  keyHash: string;
  balanceMicros: Micros;
  /** Per-agent and per-task-type policy (caps, pins, bar); shape owned by src/accounts. */
  policy: unknown;
  createdAt: string;
}

export type HoldResult = { ok: true; balanceMicros: Micros } | { ok: false; balanceMicros: Micros };

/**
 * One open hold of the keyed holds ledger: money taken from an agent's balance for one decision and not
 * yet given back. It lives with the balance it came from (SQLite: a `holds` row written in the balance's
 * transaction; MongoDB: an entry of the agent document, changed in the same single-document update), so
 * taking it and settling it are each one atomic, idempotent step.
 */
export interface OpenHold {
  agentId: string;
  /** The hold's key, with agentId: the decision it pays for. At most one open hold per (agent, decision id). */
  decisionId: string;
  micros: Micros;
  /** ISO time the hold was stamped with (the call's start); the recovery sweep's age test reads it. */
  createdAt: string;
  /**
   * Taken before the ledger existed: copied by the schema migration from a pending decision's holdMicros.
   * Code of that age released holds itself (whoever settled the decision), so such a hold may only be
   * given back by whoever moves its decision out of `pending` now; once the decision is settled by
   * anyone else it is closed with no refund (src/gateway/recovery.ts).
   */
  migrated: boolean;
}

export interface SettleHoldResult {
  /** True for exactly one caller per hold: the one whose call gave it back. False: no such open hold (already settled, or never taken); nothing moved. */
  settled: boolean;
  /** What this call gave back (hold - charge); 0 when not settled. */
  refundMicros: Micros;
  /** The balance after this call. */
  balanceMicros: Micros;
}

/** Keyset position in openHolds: the last hold of the previous page. */
export type OpenHoldsCursor = Pick<OpenHold, 'createdAt' | 'decisionId'>;

export interface AccountsStore {
  /** Throws StoreConflictError if the handle or key hash is taken. */
  createAgent(agent: AgentRecord): Promise<AgentRecord>;
  agentsByIds(ids: readonly string[]): Promise<(AgentRecord | null)[]>;
  agentByKeyHash(keyHash: string): Promise<AgentRecord | null>;
  agentByHandle(handle: string): Promise<AgentRecord | null>;
  listAgents(): Promise<AgentRecord[]>;
  setPolicy(id: string, policy: unknown): Promise<AgentRecord | null>;
  // Money arguments must be non-negative safe integers, else StoreInputError naming the field; an unknown
  // agent id throws StoreNotFoundError; nothing changes in either case. `balanceMicros` never counts open
  // holds: held money is neither spendable nor lost.
  /**
   * Add credit; returns the new balance. Refused (StoreInputError, field 'micros') when the balance plus the
   * agent's open holds would pass Number.MAX_SAFE_INTEGER, so giving every hold back can never overflow.
   */
  credit(id: string, micros: Micros): Promise<Micros>;
  /**
   * Take `micros` from the agent's balance as the hold of `decisionId`, atomically: only if the balance
   * covers it (it never goes negative, however many holds race) and only if that decision has no open
   * hold. A refused hold (`ok: false`) records nothing.
   *
   * A second hold with the same (agent, decision id) while the first is open is REFUSED with StoreConflictError
   * (field 'decisionId') and moves nothing - not treated as idempotent: the ledger forgets settled holds
   * (the MongoDB agent document must not grow with every call), so it could not tell a retry from a reuse
   * of the id after a settle, and an "ok" for a hold it did not take would hide the mistake. Decision ids
   * are therefore never reused. `decisionId`: 1-128 of [A-Za-z0-9_-] (it is a MongoDB field name);
   * `createdAt` (ISO time, default now) is what the recovery sweep's age test reads.
   */
  hold(agentId: string, decisionId: string, micros: Micros, createdAt?: string): Promise<HoldResult>;
  /**
   * Close the open hold of `decisionId`: charge `chargeMicros` of it and give the rest back to the
   * balance, in one atomic step that succeeds for exactly one caller (`settled: true`); every other call -
   * a repeat, a racing recovery sweep in another process, a hold never taken - gets `settled: false` and
   * moves nothing, so anyone may settle a hold as long as they all charge the same amount (the charge the
   * decision records). A charge above the hold is a caller's arithmetic error: StoreInputError (field
   * 'chargeMicros'), nothing changes - callers cap it themselves (the gateway charges at most the hold).
   */
  settleHold(agentId: string, decisionId: string, chargeMicros: Micros): Promise<SettleHoldResult>;
  /**
   * Open holds stamped before `before` (ISO time), oldest first (createdAt, then decisionId), at most
   * `limit`, after the cursor `after` when given. For the recovery sweep: holds older than any live call
   * were abandoned by a process that died.
   */
  openHolds(before: string, limit: number, after?: OpenHoldsCursor): Promise<OpenHold[]>;
}

export type DecisionOutcome = 'pending' | 'completed' | 'failed' | 'rejected';

export interface DecisionRecord {
  id: string;
  agentId: string;
  createdAt: string;
  taskType: string;
  /** Model and provider that answered (null until one did). */
  model: string | null;
  provider: string | null;
  outcome: DecisionOutcome;
  /**
   * The hold taken for this decision, for display: written when the decision is settled. The money itself
   * lives in the accounts holds ledger, so a pending decision shows 0 - except one written by a version
   * before the ledger, which recorded its hold here while pending (migrated into the ledger on upgrade).
   */
  holdMicros: Micros;
  costMicros: Micros;
  latencyMs: number | null;
  idempotencyKey: string | null;
  /** Seqs of the chain entries this decision wrote. */
  chainSeqs: number[];
  /** Private detail (scored candidates, attempts, errors): visible to the agent and the admin only. */
  detail: unknown;
  /** Caller feedback via reportOutcome, if any. */
  feedback: { success: boolean; reason: string | null; at: string } | null;
}

export interface DecisionFilter {
  agentId?: string;
  model?: string;
  provider?: string;
  taskType?: string;
  outcome?: DecisionOutcome;
  /** ISO time, inclusive */
  since?: string;
  /** ISO time, exclusive */
  until?: string;
}

export interface DecisionPage {
  items: DecisionRecord[];
  hasNextPage: boolean;
}

export interface DecisionsStore {
  /** Throws StoreConflictError on a duplicate id or (agentId, idempotencyKey). */
  insert(decision: DecisionRecord): Promise<void>;
  update(id: string, patch: Partial<Omit<DecisionRecord, 'id' | 'agentId' | 'createdAt'>>): Promise<DecisionRecord | null>;
  /**
   * Conditional update: applies `patch` only while the decision's outcome is still `pending`, atomically
   * (check and write are one operation). Returns the updated record, or null when the decision is unknown
   * or already settled. Whoever moves a decision out of `pending` decides its charge (the recorded
   * costMicros; 0 for a failed or recovered call); its hold is then settled with that charge by
   * accounts.settleHold, which is exactly-once by itself, so any process may do it.
   */
  updateIfPending(id: string, patch: Partial<Omit<DecisionRecord, 'id' | 'agentId' | 'createdAt'>>): Promise<DecisionRecord | null>;
  byIds(ids: readonly string[]): Promise<(DecisionRecord | null)[]>;
  byIdempotencyKey(agentId: string, key: string): Promise<DecisionRecord | null>;
  /**
   * Newest first (createdAt, then id, descending), keyset-paginated: pages stay stable and complete while
   * decisions are added. `after` is an opaque cursor from a previous page (the last item's id); an
   * unknown cursor throws StoreInputError.
   */
  list(filter: DecisionFilter, first: number, after?: string): Promise<DecisionPage>;
}

/** Small JSON documents shared across instances at a coarse interval (latency, health, outcome signals). */
export interface StatsStore {
  put(key: string, value: unknown): Promise<void>;
  get(key: string): Promise<unknown | null>;
  /** All documents whose key starts with `prefix`. */
  list(prefix: string): Promise<{ key: string; value: unknown; updatedAt: string }[]>;
}

export interface Store {
  readonly kind: 'embedded' | 'mongodb';
  readonly chain: ChainStore;
  readonly accounts: AccountsStore;
  readonly decisions: DecisionsStore;
  readonly stats: StatsStore;
  /**
   * Resolves when the store answers a trivial read-only round trip (SQLite: `SELECT 1`; MongoDB: the
   * `ping` command); rejects when it cannot. Reads no data and never writes, so a readiness probe may
   * call it under any write load (unlike chain.head(), which on MongoDB may finish an unfinished batch).
   * Both adapters implement it; optional only so store wrappers written before it still type-check.
   */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

/** A uniqueness rule was violated (duplicate handle, idempotency key, seq...). */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * Bad input to a store method (negative or fractional money, a malformed batch, an unknown patch field...).
 * A RangeError, so generic handlers treat it as a caller mistake. Thrown before anything is changed.
 */
export class StoreInputError extends RangeError {
  override readonly name = 'StoreInputError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** The record a write targets does not exist (credit/hold/settleHold on an unknown agent id). Nothing changed. */
export class StoreNotFoundError extends Error {
  override readonly name = 'StoreNotFoundError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}
