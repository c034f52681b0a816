// The chain in MongoDB.
//
// Collections: `chain` (insert-only; `_id` is the seq, so the mandatory unique _id index is the unique
// seq index), `meta` (the `head` document), `checkpoints` (`_id` is the index, unique index on size).
//
// Why appends can never fork, and what happens in a crash (no multi-document transaction needed):
//   1. COMMIT POINT. One findOneAndUpdate on the head document, filtered on
//      {_id:'head', seq: after.seq, hash: after.hash, pending: null}, moves the head to the batch's last
//      entry AND stores the whole batch inside the head document (`pending`). A single-document update is
//      atomic on every deployment (standalone, replica set, sharded), so exactly one writer wins for a
//      given head; the loser matches nothing, writes nothing, and gets the current head back.
//   2. MATERIALIZE. The winner inserts the batch into `chain`, then clears `pending` (only if it still
//      names this batch). The append resolves after that, so an acknowledged entry is readable.
//   Crash between 1 and 2: the batch is already durable in the head document, and its content is fixed
//   (seqs, hashes, signatures). Any later head() / append() / feed tick in any process sees `pending`,
//   re-inserts whatever is missing (duplicate-key errors on seqs already there are expected and ignored:
//   the only document that can ever hold seq k is the one from the batch that won the CAS over k), and
//   clears it. So the crash window never loses an acknowledged batch (it was not acknowledged yet, but it
//   is kept anyway: a roll forward, never a rollback), never leaves a half batch, and never blocks the
//   chain. A new CAS requires `pending: null`, so a batch is fully materialized before the next one.
// Why not a transaction: it needs a replica set, and the design above is equally safe everywhere with
// fewer round trips on the common path (CAS, insertMany, clear). The price: the batch is written twice
// (head document + chain), and a batch must fit in one 16 MB document (MAX_BATCH_BYTES guards this).
//
// Durability: the client uses writeConcern {w: 'majority', j: true}, so nothing resolves before it is
// journaled on a majority. Reads of entries use readConcern 'majority', so the live feed never delivers
// an entry that a failover could roll back.
import type { ChangeStream, ChangeStreamInsertDocument, Collection, Db } from 'mongodb';
import { SeqFeed } from '../feed.js';
import type { AppendResult, ChainHeadRef, ChainStore, EntryWatch, StoredCheckpoint, StoredEntry } from '../port.js';
import { StoreConflictError, StoreInputError } from '../port.js';
import { assertBatch, assertCheckpoint, assertLimit, assertSeq, assertString, sameHead } from '../validate.js';
import { isDuplicateKey } from './errors.js';

/** Polling interval when change streams are unavailable. */
const POLL_MS = 40;
/** Beside a live change stream, a slow poll only as a safety net (an event missed for any reason). */
const SAFETY_POLL_MS = 1000;
/** The batch travels inside the head document: stay well under MongoDB's 16 MB document limit. */
const MAX_BATCH_BYTES = 12 * 1024 * 1024;

export interface EntryDoc {
  _id: number;
  hash: string;
  sig: string;
  keyId: string;
  canonical: string;
  kind: string;
  agent: string;
  decision: string;
  time: string;
}

interface HeadDoc {
  _id: 'head';
  seq: number;
  hash: string | null;
  pending: { last: number; docs: EntryDoc[] } | null;
}

interface CheckpointDoc {
  _id: number;
  size: number;
  rootHash: string;
  time: string;
  note: string;
}

export type WatchMode = 'idle' | 'starting' | 'change-stream' | 'polling';

function toDoc(e: StoredEntry): EntryDoc {
  return { _id: e.seq, hash: e.hash, sig: e.sig, keyId: e.keyId, canonical: e.canonical, kind: e.kind, agent: e.agent, decision: e.decision, time: e.time };
}

function toEntry(d: EntryDoc): StoredEntry {
  return { seq: d._id, hash: d.hash, sig: d.sig, keyId: d.keyId, canonical: d.canonical, kind: d.kind, agent: d.agent, decision: d.decision, time: d.time };
}

function toCheckpoint(d: CheckpointDoc): StoredCheckpoint {
  return { index: d._id, size: d.size, rootHash: d.rootHash, time: d.time, note: d.note };
}

export class MongoChainStore implements ChainStore {
  private readonly chain: Collection<EntryDoc>;
  private readonly meta: Collection<HeadDoc>;
  private readonly cps: Collection<CheckpointDoc>;
  private readonly feed: SeqFeed;
  private stream: ChangeStream<EntryDoc, ChangeStreamInsertDocument<EntryDoc>> | null = null;
  private streamGeneration = 0;
  private changeStreamsUnsupported: boolean;
  private mode: WatchMode = 'idle';
  private lastStreamError: Error | null = null;

  constructor(db: Db, opts: { changeStreams: boolean }) {
    this.chain = db.collection<EntryDoc>('chain', { readConcern: { level: 'majority' } });
    this.meta = db.collection<HeadDoc>('meta');
    this.cps = db.collection<CheckpointDoc>('checkpoints', { readConcern: { level: 'majority' } });
    this.changeStreamsUnsupported = !opts.changeStreams;
    this.feed = new SeqFeed(
      {
        headSeq: async () => (await this.head())?.seq ?? -1,
        read: async (from, limit) => (await this.chain.find({ _id: { $gte: from } }).sort({ _id: 1 }).limit(limit).toArray()).map(toEntry),
      },
      { intervalMs: POLL_MS, onActive: () => this.startStream(), onIdle: () => void this.stopStream() },
    );
  }

  static async ensureSchema(db: Db): Promise<void> {
    await Promise.all([
      db.collection('chain').createIndexes([
        { key: { decision: 1, _id: 1 }, name: 'decision_seq' },
        { key: { agent: 1, _id: 1 }, name: 'agent_seq' },
      ]),
      db.collection('checkpoints').createIndex({ size: 1 }, { unique: true, name: 'size_1' }),
    ]);
    try {
      await db.collection<HeadDoc>('meta').updateOne({ _id: 'head' }, { $setOnInsert: { seq: -1, hash: null, pending: null } }, { upsert: true });
    } catch (err) {
      // Two processes initializing at once: the other one created it.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /** How the live feed currently learns about new entries (for diagnostics and tests). */
  get watchMode(): WatchMode {
    return this.mode;
  }

  /** Why change streams were given up, if they were. */
  get changeStreamError(): Error | null {
    return this.lastStreamError;
  }

  async head(): Promise<ChainHeadRef | null> {
    const h = await this.meta.findOne({ _id: 'head' });
    if (!h) throw new Error('chain head document is missing (schema not initialized)');
    if (h.pending) await this.materialize(h.pending.docs, h.pending.last);
    return h.seq < 0 || h.hash === null ? null : { seq: h.seq, hash: h.hash };
  }

  async append(after: ChainHeadRef | null, entries: StoredEntry[]): Promise<AppendResult> {
    assertBatch(after, entries);
    if (entries.length === 0) {
      const cur = await this.head();
      return sameHead(cur, after) ? { ok: true } : { ok: false, head: cur };
    }
    const docs = entries.map(toDoc);
    let bytes = 0;
    for (const d of docs) bytes += d.canonical.length + d.sig.length + d.keyId.length + d.kind.length + d.agent.length + d.decision.length + 200;
    if (bytes > MAX_BATCH_BYTES) throw new StoreInputError(`batch of ${docs.length} entries is too large for one append (about ${bytes} bytes); split it`, 'entries');
    const last = docs[docs.length - 1]!;
    for (;;) {
      const won = await this.meta.findOneAndUpdate(
        { _id: 'head', seq: after?.seq ?? -1, hash: after?.hash ?? null, pending: null },
        { $set: { seq: last._id, hash: last.hash, pending: { last: last._id, docs } } },
        { projection: { _id: 1 } },
      );
      if (won) break;
      // Either the head moved (stale `after`: write nothing, report the head) or the previous batch is
      // still being materialized (head() finishes it; then the CAS is tried again).
      const cur = await this.head();
      if (!sameHead(cur, after)) return { ok: false, head: cur };
    }
    await this.materialize(docs, last._id);
    this.feed.wake();
    return { ok: true };
  }

  /** Insert a committed batch into `chain` (idempotent) and clear it from the head document. */
  private async materialize(docs: EntryDoc[], last: number): Promise<void> {
    try {
      await this.chain.insertMany(docs, { ordered: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another process is materializing (or has materialized) the same batch: add only what is missing.
      const first = docs[0]!._id;
      const present = new Set((await this.chain.find({ _id: { $gte: first, $lte: last } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
      for (const d of docs) {
        if (present.has(d._id)) continue;
        try {
          await this.chain.insertOne(d);
        } catch (e) {
          if (!isDuplicateKey(e)) throw e;
        }
      }
    }
    await this.meta.updateOne({ _id: 'head', 'pending.last': last }, { $set: { pending: null } });
  }

  async entries(fromSeq: number, limit: number): Promise<StoredEntry[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertLimit(limit, 'limit');
    if (limit === 0) return [];
    const docs = await this.chain.find({ _id: { $gte: fromSeq, $lt: fromSeq + limit } }).sort({ _id: 1 }).toArray();
    return docs.map(toEntry);
  }

  async entry(seq: number): Promise<StoredEntry | null> {
    assertSeq(seq, 'seq');
    const d = await this.chain.findOne({ _id: seq });
    return d ? toEntry(d) : null;
  }

  async leafHashes(fromSeq: number, toSeq: number): Promise<string[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertSeq(toSeq, 'toSeq');
    if (toSeq <= fromSeq) return [];
    const docs = await this.chain.find({ _id: { $gte: fromSeq, $lt: toSeq } }, { projection: { hash: 1 } }).sort({ _id: 1 }).toArray();
    return docs.map((d) => d.hash);
  }

  async entriesOfDecision(decision: string): Promise<StoredEntry[]> {
    assertString(decision, 'decision');
    return (await this.chain.find({ decision }).sort({ _id: 1 }).toArray()).map(toEntry);
  }

  async addCheckpoint(cp: Omit<StoredCheckpoint, 'index'>): Promise<StoredCheckpoint> {
    assertCheckpoint(cp);
    // The unique indexes on _id (index) and size arbitrate between processes cutting at once.
    for (let attempt = 0; attempt < 50; attempt++) {
      const same = await this.cps.findOne({ size: cp.size });
      if (same) return toCheckpoint(same);
      const latest = await this.cps.find({}).sort({ _id: -1 }).limit(1).next();
      if (latest && cp.size <= latest.size) {
        throw new StoreConflictError(`checkpoint size ${cp.size} is not larger than the latest (${latest.size})`, 'size');
      }
      const doc: CheckpointDoc = { _id: latest ? latest._id + 1 : 0, size: cp.size, rootHash: cp.rootHash, time: cp.time, note: cp.note };
      try {
        await this.cps.insertOne(doc);
        return toCheckpoint(doc);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    throw new StoreConflictError(`checkpoint for size ${cp.size} kept colliding with concurrent ones`, 'size');
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const d = await this.cps.find({}).sort({ _id: -1 }).limit(1).next();
    return d ? toCheckpoint(d) : null;
  }

  async checkpointBySize(size: number): Promise<StoredCheckpoint | null> {
    assertSeq(size, 'size');
    const d = await this.cps.findOne({ size });
    return d ? toCheckpoint(d) : null;
  }

  async checkpointByIndex(index: number): Promise<StoredCheckpoint | null> {
    assertSeq(index, 'index');
    const d = await this.cps.findOne({ _id: index });
    return d ? toCheckpoint(d) : null;
  }

  async checkpoints(fromIndex: number, limit: number): Promise<StoredCheckpoint[]> {
    assertSeq(fromIndex, 'fromIndex');
    assertLimit(limit, 'limit');
    if (limit === 0) return [];
    return (await this.cps.find({ _id: { $gte: fromIndex, $lt: fromIndex + limit } }).sort({ _id: 1 }).toArray()).map(toCheckpoint);
  }

  watch(fromSeq: number, onEntries: (entries: StoredEntry[]) => void, onError?: (err: Error) => void): EntryWatch {
    assertSeq(fromSeq, 'fromSeq');
    return this.feed.watch(fromSeq, onEntries, onError);
  }

  async close(): Promise<void> {
    this.feed.close();
    await this.stopStream();
  }

  /**
   * One change stream per Store while anyone watches. Until the server confirms it (the `init` event)
   * the feed polls fast; after it, one more read closes the window between the backlog read and the
   * stream's start, and the poll slows to a safety net. Any stream error (a standalone server, a
   * look-alike without $changeStream, a non-resumable failure) falls back to polling for good.
   */
  private startStream(): void {
    if (this.changeStreamsUnsupported) {
      this.mode = 'polling';
      return;
    }
    const generation = ++this.streamGeneration;
    this.mode = 'starting';
    this.feed.setInterval(POLL_MS);
    let stream: ChangeStream<EntryDoc, ChangeStreamInsertDocument<EntryDoc>>;
    try {
      stream = this.chain.watch<EntryDoc, ChangeStreamInsertDocument<EntryDoc>>([{ $match: { operationType: 'insert' } }]);
    } catch (err) {
      this.fallBackToPolling(err);
      return;
    }
    this.stream = stream;
    let buffer: StoredEntry[] = [];
    stream.once('init', () => {
      if (generation !== this.streamGeneration) return;
      this.mode = 'change-stream';
      this.feed.setInterval(SAFETY_POLL_MS);
      this.feed.wake();
    });
    stream.on('change', (ev) => {
      if (generation !== this.streamGeneration || !ev.fullDocument) return;
      // Events arrive one by one; hand them to the feed as one batch per turn of the event loop.
      if (buffer.length === 0) {
        queueMicrotask(() => {
          const batch = buffer.sort((a, b) => a.seq - b.seq);
          buffer = [];
          this.feed.offer(batch);
        });
      }
      buffer.push(toEntry(ev.fullDocument));
    });
    stream.on('error', (err) => {
      if (generation !== this.streamGeneration) return;
      this.fallBackToPolling(err);
    });
  }

  private fallBackToPolling(err: unknown): void {
    this.lastStreamError = err instanceof Error ? err : new Error(String(err));
    this.changeStreamsUnsupported = true;
    this.streamGeneration++;
    const s = this.stream;
    this.stream = null;
    void s?.close().catch(() => undefined);
    if (this.feed.size > 0) {
      this.mode = 'polling';
      this.feed.setInterval(POLL_MS);
      this.feed.wake();
    }
  }

  private async stopStream(): Promise<void> {
    this.streamGeneration++;
    this.mode = 'idle';
    const s = this.stream;
    this.stream = null;
    await s?.close().catch(() => undefined);
  }
}
