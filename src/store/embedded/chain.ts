// The chain and its checkpoints in SQLite: insert-only tables (triggers refuse UPDATE/DELETE), appends
// as one BEGIN IMMEDIATE transaction that compares the head and inserts the whole batch.
import type Database from 'better-sqlite3';
import { SeqFeed } from '../feed.js';
import type { AppendResult, ChainHeadRef, ChainStore, EntryWatch, StoredCheckpoint, StoredEntry } from '../port.js';
import { StoreConflictError } from '../port.js';
import { assertBatch, assertCheckpoint, assertLimit, assertSeq, assertString, sameHead } from '../validate.js';
import { isUniqueViolation, sqliteCode } from './schema.js';
import { localWakers } from './wake.js';

/** How often the feed looks for entries appended by other processes. */
const POLL_MS = 30;
/** A writer that still finds the lock taken after busy_timeout retries this long before giving up. */
const BUSY_RETRY_MS = 30_000;

interface EntryRow {
  seq: number;
  hash: string;
  sig: string;
  key_id: string;
  canonical: string;
  kind: string;
  agent: string;
  decision: string;
  time: string;
}

interface CheckpointRow {
  idx: number;
  size: number;
  root_hash: string;
  time: string;
  note: string;
}

const ENTRY_COLS = 'seq, hash, sig, key_id, canonical, kind, agent, decision, time';
const CP_COLS = 'idx, size, root_hash, time, note';

function toEntry(r: EntryRow): StoredEntry {
  return { seq: r.seq, hash: r.hash, sig: r.sig, keyId: r.key_id, canonical: r.canonical, kind: r.kind, agent: r.agent, decision: r.decision, time: r.time };
}

function toCheckpoint(r: CheckpointRow): StoredCheckpoint {
  return { index: r.idx, size: r.size, rootHash: r.root_hash, time: r.time, note: r.note };
}

export class SqliteChainStore implements ChainStore {
  private readonly feed: SeqFeed;
  private readonly unregister: () => void;
  private readonly s;
  private readonly appendTx: (after: ChainHeadRef | null, entries: StoredEntry[]) => AppendResult;
  private readonly addCheckpointTx: (cp: Omit<StoredCheckpoint, 'index'>) => StoredCheckpoint;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    // Every statement is prepared once: a prepared statement skips parsing and planning per call.
    this.s = {
      head: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1'),
      headSeq: db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM chain'),
      // Positional parameters: binding by name costs a lookup per parameter per row.
      insert: db.prepare<[number, string, string, string, string, string, string, string, string]>('INSERT INTO chain (seq, hash, sig, key_id, canonical, kind, agent, decision, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      range: db.prepare<[number, number], EntryRow>(`SELECT ${ENTRY_COLS} FROM chain WHERE seq >= ? ORDER BY seq LIMIT ?`),
      one: db.prepare<[number], EntryRow>(`SELECT ${ENTRY_COLS} FROM chain WHERE seq = ?`),
      leaves: db.prepare<[number, number], { hash: string }>('SELECT hash FROM chain WHERE seq >= ? AND seq < ? ORDER BY seq'),
      ofDecision: db.prepare<[string], EntryRow>(`SELECT ${ENTRY_COLS} FROM chain WHERE decision = ? ORDER BY seq`),
      cpBySize: db.prepare<[number], CheckpointRow>(`SELECT ${CP_COLS} FROM checkpoints WHERE size = ?`),
      cpByIndex: db.prepare<[number], CheckpointRow>(`SELECT ${CP_COLS} FROM checkpoints WHERE idx = ?`),
      cpLatest: db.prepare<[], CheckpointRow>(`SELECT ${CP_COLS} FROM checkpoints ORDER BY idx DESC LIMIT 1`),
      cpRange: db.prepare<[number, number], CheckpointRow>(`SELECT ${CP_COLS} FROM checkpoints WHERE idx >= ? ORDER BY idx LIMIT ?`),
      cpInsert: db.prepare('INSERT INTO checkpoints (idx, size, root_hash, time, note) VALUES (@index, @size, @rootHash, @time, @note)'),
    };

    // Read the head, compare, insert the batch: one write transaction, so no other connection (or
    // process) can append between the comparison and the inserts. The PRIMARY KEY on seq is a second
    // arbiter. The whole batch is one commit, i.e. one fsync.
    this.appendTx = db.transaction((after: ChainHeadRef | null, entries: StoredEntry[]): AppendResult => {
      const cur = this.s.head.get() ?? null;
      if (!sameHead(cur, after)) return { ok: false, head: cur };
      for (const e of entries) this.s.insert.run(e.seq, e.hash, e.sig, e.keyId, e.canonical, e.kind, e.agent, e.decision, e.time);
      return { ok: true };
    }).immediate;

    this.addCheckpointTx = db.transaction((cp: Omit<StoredCheckpoint, 'index'>): StoredCheckpoint => {
      const same = this.s.cpBySize.get(cp.size);
      if (same) return toCheckpoint(same);
      const latest = this.s.cpLatest.get();
      if (latest && cp.size <= latest.size) {
        throw new StoreConflictError(`checkpoint size ${cp.size} is not larger than the latest (${latest.size})`, 'size');
      }
      const index = latest ? latest.idx + 1 : 0;
      this.s.cpInsert.run({ index, size: cp.size, rootHash: cp.rootHash, time: cp.time, note: cp.note });
      return { index, size: cp.size, rootHash: cp.rootHash, time: cp.time, note: cp.note };
    }).immediate;

    this.feed = new SeqFeed(
      {
        headSeq: async () => this.s.headSeq.get()?.seq ?? -1,
        read: async (from, limit) => this.s.range.all(from, limit).map(toEntry),
      },
      { intervalMs: POLL_MS },
    );
    // Appends through any Store instance on this file in this process wake this feed at once.
    this.unregister = localWakers.add(this.file, () => this.feed.wake());
  }

  async head(): Promise<ChainHeadRef | null> {
    return this.s.head.get() ?? null;
  }

  async append(after: ChainHeadRef | null, entries: StoredEntry[]): Promise<AppendResult> {
    assertBatch(after, entries);
    const result = await this.retryBusy(() => {
      try {
        return this.appendTx(after, entries);
      } catch (err) {
        // A unique seq can only collide if another writer slipped in: report it as a stale head.
        if (isUniqueViolation(err)) return { ok: false, head: this.s.head.get() ?? null } as AppendResult;
        throw err;
      }
    });
    if (result.ok && entries.length > 0) localWakers.wake(this.file);
    return result;
  }

  async entries(fromSeq: number, limit: number): Promise<StoredEntry[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertLimit(limit, 'limit');
    if (limit === 0) return [];
    return this.s.range.all(fromSeq, limit).filter((r) => r.seq < fromSeq + limit).map(toEntry);
  }

  async entry(seq: number): Promise<StoredEntry | null> {
    assertSeq(seq, 'seq');
    const r = this.s.one.get(seq);
    return r ? toEntry(r) : null;
  }

  async leafHashes(fromSeq: number, toSeq: number): Promise<string[]> {
    assertSeq(fromSeq, 'fromSeq');
    assertSeq(toSeq, 'toSeq');
    return this.s.leaves.all(fromSeq, toSeq).map((r) => r.hash);
  }

  async entriesOfDecision(decision: string): Promise<StoredEntry[]> {
    assertString(decision, 'decision');
    return this.s.ofDecision.all(decision).map(toEntry);
  }

  async addCheckpoint(cp: Omit<StoredCheckpoint, 'index'>): Promise<StoredCheckpoint> {
    assertCheckpoint(cp);
    return this.retryBusy(() => {
      try {
        return this.addCheckpointTx(cp);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Unreachable while the transaction is IMMEDIATE; kept so a race could only ever surface as a conflict.
        const same = this.s.cpBySize.get(cp.size);
        if (same) return toCheckpoint(same);
        throw new StoreConflictError(`checkpoint for size ${cp.size} collided with a concurrent one`, 'size');
      }
    });
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const r = this.s.cpLatest.get();
    return r ? toCheckpoint(r) : null;
  }

  async checkpointBySize(size: number): Promise<StoredCheckpoint | null> {
    assertSeq(size, 'size');
    const r = this.s.cpBySize.get(size);
    return r ? toCheckpoint(r) : null;
  }

  async checkpointByIndex(index: number): Promise<StoredCheckpoint | null> {
    assertSeq(index, 'index');
    const r = this.s.cpByIndex.get(index);
    return r ? toCheckpoint(r) : null;
  }

  async checkpoints(fromIndex: number, limit: number): Promise<StoredCheckpoint[]> {
    assertSeq(fromIndex, 'fromIndex');
    assertLimit(limit, 'limit');
    if (limit === 0) return [];
    return this.s.cpRange.all(fromIndex, limit).filter((r) => r.idx < fromIndex + limit).map(toCheckpoint);
  }

  watch(fromSeq: number, onEntries: (entries: StoredEntry[]) => void, onError?: (err: Error) => void): EntryWatch {
    assertSeq(fromSeq, 'fromSeq');
    return this.feed.watch(fromSeq, onEntries, onError);
  }

  close(): void {
    this.feed.close();
    this.unregister();
  }

  /**
   * busy_timeout already makes SQLite wait for another process's write lock. If it still reports
   * SQLITE_BUSY (a long checkpoint, a stuck writer), wait without blocking the event loop and retry.
   */
  private async retryBusy<T>(op: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_RETRY_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        return op();
      } catch (err) {
        if (sqliteCode(err) !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
