// The chain in MongoDB.
//
// Collections: `chain` (insert-only; `_id` is the seq, so the mandatory unique _id index is the unique
// seq index), `links` (one document per appended batch, see below), `checkpoints` (`_id` is the index,
// unique index on size).
//
// Why two writers can never fork the chain, and what a crash leaves behind:
//   1. COMMIT POINT: a compare-and-swap on the head, written as an insert-if-absent. Appending after
//      head (k, h) inserts the link document {_id: k, afterHash: h, last, lastHash, docs: the batch}
//      (`_id` -1 after the empty chain). The unique _id index admits exactly one successor of seq k:
//      of two writers on the same head one inserts, the other gets E11000, writes nothing, and is told
//      the current head. Before inserting, `after` is checked to be the end of a committed link with
//      that hash (immutable once written, so checking first is race-free): a stale, forged or mid-batch
//      `after` is refused the same way. Induction over seqs then gives one chain: no seq is covered by
//      two links.
//   2. MATERIALIZE: the winner inserts the batch into `chain` in seq order, then drops `docs` from its
//      link. The append resolves after that, so an acknowledged entry is readable.
//   Crash between 1 and 2: the batch is durable inside its link and its content is fixed (seqs, hashes,
//   signatures). head() and the next append() in any process see a link that still carries `docs` and
//   re-insert what is missing (E11000 on a seq already there is expected: only this link's entry can
//   hold it; a different hash there is reported as a broken invariant, never papered over). A link is
//   committed only after its predecessor is fully materialized, so at most the newest link is ever
//   unfinished: the crash window loses nothing, leaves no half batch visible for long and never blocks
//   the chain (roll forward, never rollback).
// Why an insert and not findOneAndUpdate on a head document: both are atomic on a real server, but
// unique-index inserts are the guarantee every MongoDB-wire server gets right - the jongodb look-alike
// applies conditional updates non-atomically (measured: several CAS winners per 200 racing rounds)
// while its unique indexes hold. Why not a transaction: it needs a replica set; this is as safe on
// every deployment, in two writes on the common path (link, entries) plus the `docs` clean-up.
// Limit: a batch travels inside one link document, so it must stay under 16 MB (MAX_BATCH_BYTES).
//
// Durability: the client uses writeConcern {w: 'majority', j: true}, so nothing resolves before it is
// journaled on a majority. Reads use readConcern 'majority', so the live feed never delivers an entry
// that a failover could roll back.
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
/** The batch travels inside its link document: stay well under MongoDB's 16 MB document limit. */
const MAX_BATCH_BYTES = 12 * 1024 * 1024;

/** A stored entry as a document: `_id` is the seq (the unique index that arbitrates between writers). */
export type EntryDoc = Omit<StoredEntry, 'seq'> & { _id: number };

/** The successor claim of seq `_id` (-1: the first batch). `docs` is dropped once materialized. */
interface LinkDoc {
  _id: number;
  afterHash: string | null;
  last: number;
  lastHash: string;
  docs?: EntryDoc[];
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
  private readonly links: Collection<LinkDoc>;
  /** The last link this instance committed and materialized itself: appending after it needs no checks. */
  private ownEnd: ChainHeadRef | null = null;
  private readonly cps: Collection<CheckpointDoc>;
  private readonly feed: SeqFeed;
  private stream: ChangeStream<EntryDoc, ChangeStreamInsertDocument<EntryDoc>> | null = null;
  private streamGeneration = 0;
  private changeStreamsUnsupported: boolean;
  private mode: WatchMode = 'idle';
  private lastStreamError: Error | null = null;

  constructor(db: Db, opts: { changeStreams: boolean }) {
    this.chain = db.collection<EntryDoc>('chain', { readConcern: { level: 'majority' } });
    this.links = db.collection<LinkDoc>('links', { readConcern: { level: 'majority' } });
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
      db.collection('links').createIndex({ last: 1 }, { unique: true, name: 'last_1' }),
      db.collection('checkpoints').createIndex({ size: 1 }, { unique: true, name: 'size_1' }),
    ]);
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
    const latest = await this.links.find({}).sort({ _id: -1 }).limit(1).next();
    if (!latest) return null;
    // Only the newest link can be unfinished (a writer died, or is still inserting): finish it.
    if (latest.docs) await this.materialize(latest);
    return { seq: latest.last, hash: latest.lastHash };
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

    if (after !== null && !sameHead(this.ownEnd, after)) {
      // `after` must end a committed link with this very hash; its batch must be in `chain` before a
      // successor is committed (so at most the newest link is ever unfinished).
      const pred = await this.links.findOne({ last: after.seq });
      if (!pred || pred.lastHash !== after.hash) return { ok: false, head: await this.head() };
      if (pred.docs) await this.materialize(pred);
    }
    const last = docs[docs.length - 1]!;
    const link: LinkDoc = { _id: after?.seq ?? -1, afterHash: after?.hash ?? null, last: last._id, lastHash: last.hash, docs };
    try {
      await this.links.insertOne(link);
    } catch (err) {
      if (isDuplicateKey(err)) return { ok: false, head: await this.head() };
      // Unknown outcome (e.g. the connection dropped after the server applied it): look before failing.
      const mine = await this.links.findOne({ _id: link._id }).catch(() => null);
      if (mine?.lastHash !== link.lastHash) {
        if (mine) return { ok: false, head: await this.head() };
        throw err;
      }
    }
    await this.materialize(link);
    this.ownEnd = { seq: last._id, hash: last.hash };
    this.feed.wake();
    return { ok: true };
  }

  /**
   * A read came up short at `seq`: if a committed link covers it, its batch is unfinished (a writer
   * died or is still inserting). head() finishes it (only the newest link can be unfinished); true
   * when the caller should read again. So reads never lag behind what append() committed.
   */
  private async finishedThrough(seq: number): Promise<boolean> {
    const head = await this.head();
    return head !== null && head.seq >= seq;
  }

  /** Insert a committed link's batch into `chain` in seq order (idempotent), then drop its copy. */
  private async materialize(link: LinkDoc): Promise<void> {
    const docs = link.docs ?? [];
    try {
      await this.chain.insertMany(docs, { ordered: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another process is materializing (or has materialized) the same batch: add only what is
      // missing, in order, so the batch's last entry is present only once all of it is.
      const first = docs[0]!._id;
      const present = new Map((await this.chain.find({ _id: { $gte: first, $lte: link.last } }, { projection: { _id: 1, hash: 1 } }).toArray()).map((d) => [d._id, d.hash]));
      for (const d of docs) {
        const there = present.get(d._id);
        if (there !== undefined && there !== d.hash) {
          throw new Error(`chain invariant violated: seq ${d._id} holds ${there}, its committed link has ${d.hash}`);
        }
        if (there !== undefined) continue;
        try {
          await this.chain.insertOne(d);
        } catch (e) {
          if (!isDuplicateKey(e)) throw e;
          const now = await this.chain.findOne({ _id: d._id }, { projection: { hash: 1 } });
          if (now?.hash !== d.hash) throw new Error(`chain invariant violated: seq ${d._id} holds ${now?.hash}, its committed link has ${d.hash}`);
        }
      }
    }
    await this.links.updateOne({ _id: link._id }, { $unset: { docs: '' } });
  }

  async entries(fromSeq: number, limit: number): Promise<StoredEntry[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertLimit(limit, 'limit');
    if (limit === 0) return [];
    const read = () => this.chain.find({ _id: { $gte: fromSeq, $lt: fromSeq + limit } }).sort({ _id: 1 }).toArray();
    let docs = await read();
    if (docs.length < limit && (await this.finishedThrough(fromSeq + docs.length))) docs = await read();
    return docs.map(toEntry);
  }

  async entry(seq: number): Promise<StoredEntry | null> {
    assertSeq(seq, 'seq');
    let d = await this.chain.findOne({ _id: seq });
    if (!d && (await this.finishedThrough(seq))) d = await this.chain.findOne({ _id: seq });
    return d ? toEntry(d) : null;
  }

  async leafHashes(fromSeq: number, toSeq: number): Promise<string[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertSeq(toSeq, 'toSeq');
    if (toSeq <= fromSeq) return [];
    const read = () => this.chain.find({ _id: { $gte: fromSeq, $lt: toSeq } }, { projection: { hash: 1 } }).sort({ _id: 1 }).toArray();
    let docs = await read();
    if (docs.length < toSeq - fromSeq && (await this.finishedThrough(fromSeq + docs.length))) docs = await read();
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
   * One change stream per Store while anyone watches. Until the server confirms it the feed polls
   * fast; after it, one more read closes the window between the backlog read and the stream's start,
   * and the poll slows to a safety net. Any stream error (a standalone server, a
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
    // The server has opened the stream once it hands out a resume token (the driver sets one from the
    // first, usually empty, batch's postBatchResumeToken; ChangeStream does not re-emit the cursor's
    // `init`). From then on every commit reaches the stream; one read covers the commits before.
    const established = () => {
      if (generation !== this.streamGeneration || this.mode === 'change-stream') return;
      this.mode = 'change-stream';
      this.feed.setInterval(SAFETY_POLL_MS);
      this.feed.wake();
    };
    stream.once('resumeTokenChanged', established);
    stream.on('change', (ev) => {
      if (generation !== this.streamGeneration || !ev.fullDocument) return;
      established();
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
    this.mode = this.feed.size > 0 ? 'polling' : 'idle';
    this.feed.setInterval(POLL_MS);
    this.feed.wake();
  }

  private async stopStream(): Promise<void> {
    this.streamGeneration++;
    this.mode = 'idle';
    const s = this.stream;
    this.stream = null;
    await s?.close().catch(() => undefined);
  }
}
