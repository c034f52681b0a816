// The chain's single sequencer with group commit.
//
// append() validates the event (typed error, nothing queued) and queues it. One loop drains the queue in
// batches: each batch gets consecutive seqs, one time, prev links, canonical bytes (RFC 8785), leaf
// hashes and signatures, and is handed to store.chain.append(head, rows) as ONE atomic, durable write.
// Callers are resolved only after the store resolved. While batch N is being committed, batch N+1 is
// already sequenced on top of N's last hash and signed in a worker thread; if N does not land, N+1 is
// re-sequenced too.
//
// Several processes may append to one store: the store's compare-and-swap on the head refuses a stale
// batch, and the appender then reloads the head (and the Merkle leaves it missed), re-sequences and
// re-signs. Nothing is ever acknowledged before it is durable, and the chain never forks.
//
// Checkpoints: a signed C2SP note over the Merkle root is cut at least every `checkpointIntervalMs`
// while entries arrive, and on close; store.chain.addCheckpoint is idempotent by size across processes.
import type { ChainEntry, Envelope, EventInput } from './types.js';
import { GENESIS_PREV } from './types.js';
import type { ChainHeadRef, ChainStore, StoredCheckpoint, StoredEntry } from '../store/port.js';
import { StoreConflictError } from '../store/port.js';
import type { ChainKeys } from './keys.js';
import { EntryValidationError, buildEntry, entryCanonical } from './entry.js';
import { leafHashOfString } from './hash.js';
import { fromHex0x, toHex0x } from './encoding.js';
import { MerkleFrontier } from './merkle.js';
import { formatCheckpointBody, signNote } from './checkpoint.js';
import { nodeCrypto } from './node-crypto.js';
import { createBatchSigner, defaultSigningWorkers, type BatchSigner } from './appender-signers.js';
import { logger } from '../log.js';

/** Resolve after the I/O callbacks already pending have run (a macrotask turn, not a microtask). */
function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export type AppendedEnvelope = Envelope & { seq: number };

/** The event was refused before queuing; nothing changed. `field` names the culprit. */
export class ChainInputError extends RangeError {
  override readonly name = 'ChainInputError';
  readonly code = 'invalid_event';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** The queue is full: the caller should shed load or retry later. Nothing was queued. */
export class ChainBackpressureError extends Error {
  override readonly name = 'ChainBackpressureError';
  readonly code = 'chain_queue_full';
  constructor(readonly limit: number) {
    super(`chain append queue is full (${limit} events waiting); retry later`);
  }
}

/** append() after close(). */
export class ChainClosedError extends Error {
  override readonly name = 'ChainClosedError';
  readonly code = 'chain_closed';
  constructor() {
    super('chain appender is closed');
  }
}

/** The store failed to make a batch durable; the event was not appended. */
export class ChainStoreError extends Error {
  override readonly name = 'ChainStoreError';
  readonly code = 'chain_store_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const INPUT_KEYS: ReadonlySet<string> = new Set(['kind', 'agent', 'decision', 'model', 'provider', 'fields']);
const PROBE_TIME = '1970-01-01T00:00:00.000Z';

/**
 * Refuses anything the chain's format does not allow, with buildEntry's own rules (the format's single
 * authority), plus: no properties beyond EventInput's (an unexpected `prompt` or `messages` is refused,
 * never silently dropped or signed). Returns the built entry with placeholder seq/time/prev: the
 * sequencer only overwrites those three (values it generates), so a queued event cannot fail later and
 * is not validated twice.
 */
export function entryTemplate(event: unknown): ChainEntry {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new ChainInputError('event must be an object', 'event');
  for (const k of Object.keys(event)) {
    if (!INPUT_KEYS.has(k)) throw new ChainInputError(`unknown event property "${k}" (allowed: ${[...INPUT_KEYS].join(', ')})`, k);
  }
  const fields = (event as EventInput).fields;
  if (fields !== undefined && (typeof fields !== 'object' || fields === null || Object.getPrototypeOf(fields) !== Object.prototype)) {
    throw new ChainInputError('fields must be a plain object of strings and integers', 'fields');
  }
  try {
    return buildEntry(event as EventInput, 0, PROBE_TIME, GENESIS_PREV);
  } catch (err) {
    if (err instanceof EntryValidationError) throw new ChainInputError(err.message, err.field);
    throw err;
  }
}

/** Throws ChainInputError (naming the field) unless `event` can be appended as is. */
export function validateEventInput(event: unknown): asserts event is EventInput {
  entryTemplate(event);
}

interface Pending {
  /** The validated entry; seq, time and prev are set when it is sequenced. */
  template: ChainEntry;
  resolve(env: AppendedEnvelope): void;
  reject(err: Error): void;
}

/** A batch sequenced on top of `after`, signed, ready to commit. */
interface Sealed {
  items: Pending[];
  after: ChainHeadRef | null;
  rows: StoredEntry[];
  leaves: Uint8Array[];
  envelopes: AppendedEnvelope[];
  last: ChainHeadRef | null;
  timeMs: number;
}

export interface AppendOptions {
  /**
   * Nobody waits for this entry to be durable right now: let it wait (at most `lingerMs`) for the entries
   * that follow, so they share one commit. A routed call's pre-call entries (request, routed, debited)
   * linger while the provider answers; the call then asks for its batch with commitNow() and everything
   * it wrote lands in one fsync instead of two or three, each of which blocks the event loop. Order,
   * sequencing and "acknowledged only once durable" are unchanged: a lingering entry is simply committed
   * later. An append without linger (or commitNow(), flush(), close()) commits whatever is queued.
   */
  linger?: boolean;
}

export interface ChainAppenderOptions {
  chain: ChainStore;
  keys: ChainKeys;
  /** Cut a checkpoint at least this often while entries arrive (default 1000; 0: only on demand and on close). */
  checkpointIntervalMs?: number;
  /** Events waiting beyond this are refused with ChainBackpressureError (default 100,000). */
  maxQueue?: number;
  /** Entries per store write (default 4096). */
  maxBatch?: number;
  /**
   * Longest an append made with `{ linger: true }` waits for company before its batch is committed
   * (default 10 ms). See AppendOptions.
   */
  lingerMs?: number;
  /** Worker threads that sign (default: one per core, at most 4, when there is a second core; else 0 = in-thread). */
  signingWorkers?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

export interface AppenderStats {
  appended: number;
  batches: number;
  conflicts: number;
  checkpoints: number;
}

const REBUILD_PAGE = 50_000;

// Node's native codecs: same output as encoding.ts's portable ones, a good deal cheaper on this hot path.
const hex0x = (b: Uint8Array): string => `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

export class ChainAppender {
  private readonly chain: ChainStore;
  private readonly keys: ChainKeys;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly now: () => number;
  private readonly lingerMs: number;
  /** Pending lingering entries' deadline: starts the loop when nothing else did. */
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Only the tree's right edge (O(log n) memory): enough for checkpoint roots; proofs live in ProofService. */
  private readonly tree = new MerkleFrontier(nodeCrypto);
  private headRef: ChainHeadRef | null = null;
  private lastTimeMs = 0;
  private queue: Pending[] = [];
  private queueStart = 0;
  private running = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private appendedListeners = new Set<(batch: AppendedEnvelope[]) => void>();
  private checkpointListeners = new Set<(cp: StoredCheckpoint) => void>();
  private lastCheckpointSize = 0;
  private cutting: Promise<StoredCheckpoint | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private signerPool!: BatchSigner;
  readonly stats: AppenderStats = { appended: 0, batches: 0, conflicts: 0, checkpoints: 0 };

  private constructor(opts: ChainAppenderOptions) {
    this.chain = opts.chain;
    this.keys = opts.keys;
    this.maxQueue = opts.maxQueue ?? 100_000;
    this.maxBatch = opts.maxBatch ?? 4096;
    this.now = opts.now ?? Date.now;
    this.lingerMs = opts.lingerMs ?? 10;
    if (!Number.isFinite(this.lingerMs) || this.lingerMs < 0) throw new RangeError(`lingerMs must be a non-negative number of milliseconds, got ${String(opts.lingerMs)}`);
  }

  /** Recovers head, Merkle tree and latest checkpoint from the store, starts signers and the checkpoint timer. */
  static async open(opts: ChainAppenderOptions): Promise<ChainAppender> {
    const a = new ChainAppender(opts);
    await a.resync(await a.chain.head());
    a.lastCheckpointSize = (await a.chain.latestCheckpoint())?.size ?? 0;
    a.signerPool = await createBatchSigner(opts.keys.signer, opts.keys.seed(), opts.signingWorkers ?? defaultSigningWorkers());
    const every = opts.checkpointIntervalMs ?? 1000;
    if (every > 0) {
      a.timer = setInterval(() => void a.checkpoint().catch((err: unknown) => logger.warn({ err }, 'checkpoint failed')), every);
      a.timer.unref();
    }
    return a;
  }

  /** Last durable entry known to this appender (null: empty chain). */
  get head(): ChainHeadRef | null {
    return this.headRef;
  }

  /** Entries in this appender's Merkle tree (= head.seq + 1). */
  get size(): number {
    return this.tree.size;
  }

  /** Events queued and not yet in a batch. */
  get queued(): number {
    return this.queue.length - this.queueStart;
  }

  /**
   * True while the append loop runs: a batch taken off the queue is being signed or written (or events
   * wait for the loop). Read-only, for stall detection (src/server/health.ts): a batch stuck in signing
   * leaves `queued` at 0 and the store idle, and only this shows it has not been acknowledged.
   */
  get busy(): boolean {
    return this.running;
  }

  /**
   * Queue an event; resolves with its envelope once it is durable. Rejects at once (nothing queued) with
   * ChainInputError for a malformed event, ChainBackpressureError when the queue is full, ChainClosedError
   * after close(); later with ChainStoreError if the store failed to write it.
   */
  append(event: EventInput, opts?: AppendOptions): Promise<AppendedEnvelope> {
    let template: ChainEntry;
    try {
      if (this.closed) throw new ChainClosedError();
      if (this.queued >= this.maxQueue) throw new ChainBackpressureError(this.maxQueue);
      // A fresh object: a caller mutating its event after append() cannot change what gets signed.
      template = entryTemplate(event);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<AppendedEnvelope>((resolve, reject) => {
      this.queue.push({ template, resolve, reject });
      if (opts?.linger && this.lingerMs > 0) this.lingerAtMost(this.lingerMs);
      else this.commitNow();
    });
  }

  /**
   * Commit what is queued without waiting for lingering entries' deadline (a caller is about to wait for
   * its entries). The loop starts after pending I/O callbacks (not just this tick's microtasks) have
   * queued their events: they all go in one batch, one fsync.
   */
  commitNow(): void {
    if (this.running || this.queued === 0) return;
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    this.running = true;
    setImmediate(() => void this.run());
  }

  /** Make sure the queue is committed within `ms` even if nobody asks for it. */
  private lingerAtMost(ms: number): void {
    if (this.running || this.lingerTimer) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = null;
      this.commitNow();
    }, ms);
  }

  /** In-process live feed: called with each durable batch, in seq order. Returns an unsubscribe function. */
  onAppended(cb: (batch: AppendedEnvelope[]) => void): () => void {
    this.appendedListeners.add(cb);
    return () => this.appendedListeners.delete(cb);
  }

  /** Called with each checkpoint this appender stored. */
  onCheckpoint(cb: (cp: StoredCheckpoint) => void): () => void {
    this.checkpointListeners.add(cb);
    return () => this.checkpointListeners.delete(cb);
  }

  /** Resolves when everything queued so far is durable (or failed). */
  flush(): Promise<void> {
    if (!this.running && this.queued === 0) return Promise.resolve();
    const idle = new Promise<void>((r) => this.idleWaiters.push(r));
    this.commitNow();
    return idle;
  }

  /**
   * Cut a signed checkpoint of the current tree if it grew since the last one (by any process).
   * Returns the stored checkpoint, or null when there was nothing new.
   */
  checkpoint(): Promise<StoredCheckpoint | null> {
    if (this.cutting) return this.cutting;
    this.cutting = this.cut().finally(() => {
      this.cutting = null;
    });
    return this.cutting;
  }

  /** Refuse new events, make the queued ones durable, cut a final checkpoint, stop workers. The store stays open. */
  async close(): Promise<void> {
    if (this.closed) return this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    try {
      await this.checkpoint();
    } catch (err) {
      logger.warn({ err }, 'final checkpoint failed');
    }
    await this.signerPool.close();
  }

  private take(): Pending[] {
    const n = Math.min(this.maxBatch, this.queued);
    const items = this.queue.slice(this.queueStart, this.queueStart + n);
    this.queueStart += n;
    if (this.queueStart > 4096 && this.queueStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueStart);
      this.queueStart = 0;
    }
    return items;
  }

  /** Put items back at the front, in their original order (they were never acknowledged). */
  private requeue(items: Pending[]): void {
    if (items.length === 0) return;
    this.queue = [...items, ...this.queue.slice(this.queueStart)];
    this.queueStart = 0;
  }

  private async run(): Promise<void> {
    try {
      let prepared: Promise<Sealed> | null = null;
      for (;;) {
        if (!prepared) {
          if (this.queued === 0) break;
          prepared = this.prepare(this.take(), this.headRef, this.lastTimeMs);
        }
        const batch: Sealed = await prepared;
        prepared = null;
        if (batch.rows.length === 0) continue;
        // A durable SQLite commit blocks the event loop for its fsync; requests that arrived meanwhile
        // are still unread sockets. Yield one macrotask turn so their events join the next batch instead
        // of each paying an fsync of its own (measured: ~1.75 entries per batch without this, 3x fewer
        // calls/s at saturation).
        if (this.queued < this.maxBatch) await yieldToIo();
        // Sequence and sign the next batch on top of this one while this one is committed.
        const next = this.queued > 0 ? this.prepare(this.take(), batch.last, batch.timeMs) : null;
        const outcome = await this.commit(batch);
        if (outcome === 'ok') {
          prepared = next;
          continue;
        }
        // `next` was built on a prev that did not land: re-sequence its events from the new head.
        const nextItems = next ? (await next).items : [];
        this.requeue(outcome === 'conflict' ? [...batch.items, ...nextItems] : nextItems);
      }
    } catch (err) {
      // Unreachable by design (prepare and commit settle their items); fail loudly rather than hang callers.
      logger.error({ err }, 'chain appender loop failed');
      for (const p of this.take()) p.reject(new ChainStoreError('chain appender failed', { cause: err }));
    } finally {
      this.running = false;
      if (this.queued > 0) {
        this.running = true;
        setImmediate(() => void this.run());
      } else {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Sequence, encode, hash and sign `items` on top of `after`. Never rejects: a bad item is rejected alone. */
  private async prepare(items: Pending[], after: ChainHeadRef | null, afterTimeMs: number): Promise<Sealed> {
    const timeMs = Math.max(this.now(), afterTimeMs);
    const time = new Date(timeMs).toISOString();
    let prev = after ? after.hash : GENESIS_PREV;
    let seq = after ? after.seq + 1 : 0;
    const kept: Pending[] = [];
    const entries: ChainEntry[] = [];
    const canon: string[] = [];
    const leaves: Uint8Array[] = [];
    const hashes: string[] = [];
    for (const item of items) {
      try {
        // The template is this appender's own copy (entryTemplate built it) with placeholder seq, time
        // and prev in place: set them rather than copy 15+ members per entry. If the batch does not land,
        // its envelopes are dropped and re-sequencing overwrites the three again.
        const entry = item.template;
        entry.seq = seq;
        entry.time = time;
        entry.prev = prev;
        const canonical = entryCanonical(entry);
        // UTF-8 encode + prefix + SHA-256 in one native call: no byte copies of the entry per append.
        const leaf = leafHashOfString(canonical, nodeCrypto);
        const hex = hex0x(leaf);
        kept.push(item);
        entries.push(entry);
        canon.push(canonical);
        leaves.push(leaf);
        hashes.push(hex);
        prev = hex;
        seq++;
      } catch (err) {
        item.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    let sigs: Uint8Array[];
    try {
      sigs = await this.signerPool.signLeaves(leaves);
    } catch (err) {
      for (const item of kept) item.reject(new ChainStoreError('signing failed', { cause: err }));
      return { items: [], after, rows: [], leaves: [], envelopes: [], last: after, timeMs: afterTimeMs };
    }
    const keyId = this.keys.keyId;
    const rows: StoredEntry[] = [];
    const envelopes: AppendedEnvelope[] = [];
    for (let i = 0; i < kept.length; i++) {
      const entry = entries[i]!;
      const sig = base64(sigs[i]!);
      rows.push({ seq: entry.seq, hash: hashes[i]!, sig, keyId, canonical: canon[i]!, kind: entry.kind, agent: entry.agent, decision: entry.decision, time });
      envelopes.push({ entry, hash: hashes[i]!, sig, keyId, seq: entry.seq });
    }
    const last = rows.length > 0 ? { seq: rows[rows.length - 1]!.seq, hash: rows[rows.length - 1]!.hash } : after;
    return { items: kept, after, rows, leaves, envelopes, last, timeMs };
  }

  /** Write one batch. 'ok': durable and acknowledged; 'conflict': another writer moved the head; 'failed': rejected. */
  private async commit(batch: Sealed): Promise<'ok' | 'conflict' | 'failed'> {
    let ok: boolean;
    let head: ChainHeadRef | null = null;
    try {
      const res = await this.chain.append(batch.after, batch.rows);
      ok = res.ok;
      if (!res.ok) head = res.head;
    } catch (err) {
      // The outcome is unknown (e.g. a connection lost after commit): look before declaring failure.
      let landed = false;
      try {
        const last = batch.rows[batch.rows.length - 1]!;
        landed = (await this.chain.entry(last.seq))?.hash === last.hash;
      } catch {
        landed = false;
      }
      if (!landed) {
        logger.error({ err, seq: batch.rows[0]?.seq, count: batch.rows.length }, 'chain append failed');
        for (const item of batch.items) item.reject(new ChainStoreError('the store failed to append the event', { cause: err }));
        await this.resync(null).catch((e: unknown) => logger.error({ err: e }, 'chain resync failed'));
        return 'failed';
      }
      ok = true;
    }
    if (!ok) {
      this.stats.conflicts++;
      try {
        await this.resync(head);
      } catch (err) {
        logger.error({ err }, 'chain resync after a head conflict failed');
        for (const item of batch.items) item.reject(new ChainStoreError('could not reload the chain head after a conflict', { cause: err }));
        return 'failed';
      }
      return 'conflict';
    }
    for (const leaf of batch.leaves) this.tree.append(leaf);
    this.headRef = batch.last;
    this.lastTimeMs = Math.max(this.lastTimeMs, batch.timeMs);
    this.stats.appended += batch.rows.length;
    this.stats.batches++;
    for (let i = 0; i < batch.items.length; i++) batch.items[i]!.resolve(batch.envelopes[i]!);
    for (const cb of this.appendedListeners) {
      try {
        cb(batch.envelopes);
      } catch (err) {
        logger.warn({ err }, 'onAppended listener threw');
      }
    }
    return 'ok';
  }

  /**
   * Bring head, tree and clock in step with the store (another process may have appended). `known` is a
   * head the store just reported; null: read it.
   */
  private async resync(known: ChainHeadRef | null): Promise<void> {
    const head = known ?? (await this.chain.head());
    const target = head ? head.seq + 1 : 0;
    if (target < this.tree.size) {
      throw new Error(`store head (seq ${head?.seq ?? -1}) is behind this appender's tree (${this.tree.size} leaves): the store lost entries`);
    }
    for (let from = this.tree.size; from < target; ) {
      const to = Math.min(target, from + REBUILD_PAGE);
      const page = await this.chain.leafHashes(from, to);
      if (page.length !== to - from) throw new Error(`store returned ${page.length} leaf hashes for seqs [${from}, ${to})`);
      for (const h of page) this.tree.append(fromHex0x(h));
      from = to;
    }
    if (head) {
      const entry = await this.chain.entry(head.seq);
      if (!entry || entry.hash !== head.hash) throw new Error(`store head seq ${head.seq} does not match its entry`);
      this.lastTimeMs = Math.max(this.lastTimeMs, Date.parse(entry.time));
    }
    this.headRef = head;
  }

  private async cut(): Promise<StoredCheckpoint | null> {
    const size = this.tree.size;
    if (size === 0 || size <= this.lastCheckpointSize) return null;
    const root = this.tree.root();
    const time = new Date(this.now()).toISOString();
    const body = formatCheckpointBody({ origin: this.keys.origin, size, rootHash: root, time });
    const note = signNote(body, this.keys.origin, this.keys.signer, nodeCrypto);
    try {
      const cp = await this.chain.addCheckpoint({ size, rootHash: toHex0x(root), time, note });
      this.lastCheckpointSize = Math.max(this.lastCheckpointSize, cp.size);
      if (cp.note === note) {
        this.stats.checkpoints++;
        for (const cb of this.checkpointListeners) {
          try {
            cb(cp);
          } catch (err) {
            logger.warn({ err }, 'onCheckpoint listener threw');
          }
        }
      }
      return cp;
    } catch (err) {
      // Another process already stored a larger checkpoint: ours is redundant, not wrong.
      if (err instanceof StoreConflictError) {
        this.lastCheckpointSize = Math.max(this.lastCheckpointSize, (await this.chain.latestCheckpoint())?.size ?? 0);
        return null;
      }
      throw err;
    }
  }
}
