// The chain export file (docs/export-format.md): JSON lines, streamable both ways.
//
//   {"type":"ainfera-chain-export","version":1,"origin":"…","exportedAt":"…","source":"…"}
//   {"type":"keys","keys":[PublicKeyInfo…]}
//   {"type":"entry","entry":{…},"hash":"0x…","sig":"…","keyId":"…"}      one per entry, seq order
//   {"type":"checkpoint","index":I,"size":N,"rootHash":"0x…","time":"…","note":"…"}   right after entry N-1
//   {"type":"end","entries":N,"checkpoints":K}
//
// Entries are written from the STORED canonical string (parsed, never rebuilt from columns), so the
// file carries exactly what was signed. Sources: a store (ainfera export --data-dir) or a server's
// public endpoints (ainfera export --url); both produce the same bytes for the same chain. Neither
// entries nor checkpoints are ever all in memory: a chain cuts up to one checkpoint a second, forever.
import type { Envelope, PublicKeyInfo } from './types.js';
import type { ChainStore, StoredCheckpoint, StoredEntry } from '../store/port.js';

export const EXPORT_FORMAT = 'ainfera-chain-export';
export const EXPORT_VERSION = 1;

export interface ExportHeader {
  type: typeof EXPORT_FORMAT;
  version: number;
  origin: string;
  exportedAt: string;
  source: string;
}
export interface ExportKeys {
  type: 'keys';
  keys: PublicKeyInfo[];
}
export type ExportEntry = { type: 'entry' } & Envelope;
export type ExportCheckpoint = { type: 'checkpoint' } & StoredCheckpoint;
export interface ExportEnd {
  type: 'end';
  entries: number;
  checkpoints: number;
}
export type ExportRecord = ExportHeader | ExportKeys | ExportEntry | ExportCheckpoint | ExportEnd;

/** The public envelope of a stored entry: `entry` is JSON.parse of the stored canonical bytes. */
export function envelopeOf(stored: StoredEntry): Envelope {
  return { entry: JSON.parse(stored.canonical) as Envelope['entry'], hash: stored.hash, sig: stored.sig, keyId: stored.keyId };
}

/**
 * What one run reads, fixed when it starts so that a chain growing meanwhile cannot move the goal
 * posts: the checkpoints up to the latest one then (block heights 0..index), and the entries then.
 * The latest checkpoint is read before the entry count, so every checkpoint of the snapshot is within
 * its entries (a checkpoint is stored only after the entries it covers are durable).
 */
export interface ChainHead {
  /** The latest signed checkpoint when the run started (null: none yet). */
  checkpoint: { index: number; size: number } | null;
  /** Entries present when the run started, or null when the source cannot tell (a server): entries are then read until a short page. */
  entries: number | null;
}

/** Where an export reads from: a store directly, or a server's public endpoints. */
export interface ChainSource {
  describe: string;
  origin(): Promise<string>;
  keys(): Promise<PublicKeyInfo[]>;
  /** The snapshot a run reads (called once, at its start). */
  head(): Promise<ChainHead>;
  /** Up to `limit` envelopes from `from`, in seq order. */
  entries(from: number, limit: number): Promise<Envelope[]>;
  /** The checkpoints with index in [from, from + limit), in index order (missing ones are absent). */
  checkpoints(from: number, limit: number): Promise<StoredCheckpoint[]>;
}

export function storeSource(chain: ChainStore, origin: string, keys: PublicKeyInfo[], describe: string): ChainSource {
  return {
    describe,
    origin: async () => origin,
    keys: async () => keys,
    async head() {
      const cp = await chain.latestCheckpoint();
      const last = await chain.head();
      return { checkpoint: cp ? { index: cp.index, size: cp.size } : null, entries: last ? last.seq + 1 : 0 };
    },
    entries: async (from, limit) => (await chain.entries(from, limit)).map(envelopeOf),
    checkpoints: (from, limit) => chain.checkpoints(from, limit),
  };
}

export interface ExportProgress {
  entries: number;
  checkpoints: number;
}

/**
 * The checkpoints of a snapshot (block heights below `end`) in index order, read a page at a time as
 * the caller gets to them: at most one page is held, however many checkpoints the chain has.
 */
export class CheckpointCursor {
  private page: StoredCheckpoint[] = [];
  private at = 0;
  private from = 0;

  constructor(
    private readonly source: Pick<ChainSource, 'checkpoints'>,
    private readonly end: number,
    private readonly pageSize: number,
  ) {}

  /** The next checkpoint without consuming it; null once the snapshot's checkpoints are all read. */
  async peek(): Promise<StoredCheckpoint | null> {
    while (this.at >= this.page.length) {
      this.page = [];
      if (this.from >= this.end) return null;
      const limit = Math.min(this.pageSize, this.end - this.from);
      const page = await this.source.checkpoints(this.from, limit);
      // The range [from, from + limit) was asked for, whatever came back: an empty page is a gap (the
      // reader names the missing index), and a source sending more than asked cannot grow the page.
      this.page = page.length > limit ? page.slice(0, limit) : page;
      this.at = 0;
      this.from += limit;
    }
    return this.page[this.at]!;
  }

  /** Consume the checkpoint peek() returned. */
  skip(): void {
    this.at++;
  }
}

/**
 * The entries of a snapshot, one page at a time from seq 0: stops at `end` (null: at the first short
 * page). Only the page being handed out is held.
 */
export async function* entryPages(source: Pick<ChainSource, 'entries'>, end: number | null, pageSize: number): AsyncGenerator<Envelope[]> {
  for (let from = 0; end === null || from < end; ) {
    const limit = end === null ? pageSize : Math.min(pageSize, end - from);
    const page = await source.entries(from, limit);
    if (page.length > 0) yield page.length > limit ? page.slice(0, limit) : page;
    if (page.length < limit) return;
    from += limit;
  }
}

/**
 * Stream the whole chain as export lines, in memory bounded by a page of entries and a page of
 * checkpoints. The snapshot is the source's head() at the start: checkpoints up to the latest one
 * then, entries present then (from a server, every entry until the log's end); later ones are left for
 * the next export. Each checkpoint is read when the entry stream reaches its size.
 */
export async function* exportLines(source: ChainSource, opts: { pageSize?: number; now?: () => Date } = {}): AsyncGenerator<string, ExportProgress> {
  const pageSize = opts.pageSize ?? 1000;
  const now = opts.now ?? (() => new Date());
  const header: ExportHeader = { type: EXPORT_FORMAT, version: EXPORT_VERSION, origin: await source.origin(), exportedAt: now().toISOString(), source: source.describe };
  yield JSON.stringify(header);
  const keys: ExportKeys = { type: 'keys', keys: await source.keys() };
  yield JSON.stringify(keys);

  const head = await source.head();
  const cps = new CheckpointCursor(source, head.checkpoint ? head.checkpoint.index + 1 : 0, pageSize);
  let written = 0;
  let seq = 0;
  const record = (cp: StoredCheckpoint): string => {
    const rec: ExportCheckpoint = { type: 'checkpoint', index: cp.index, size: cp.size, rootHash: cp.rootHash, time: cp.time, note: cp.note };
    written++;
    return JSON.stringify(rec);
  };
  let next = await cps.peek();
  for await (const page of entryPages(source, head.entries, pageSize)) {
    for (const env of page) {
      const rec: ExportEntry = { type: 'entry', entry: env.entry, hash: env.hash, sig: env.sig, keyId: env.keyId };
      yield JSON.stringify(rec);
      seq++;
      for (; next !== null && next.size <= seq; next = await cps.peek()) {
        cps.skip();
        yield record(next);
      }
    }
  }
  // Checkpoints larger than the entries read cannot exist in a consistent store; keep them anyway so
  // the verifier reports the truncation instead of the export hiding it.
  for (; next !== null; next = await cps.peek()) {
    cps.skip();
    yield record(next);
  }
  const end: ExportEnd = { type: 'end', entries: seq, checkpoints: written };
  yield JSON.stringify(end);
  return { entries: seq, checkpoints: written };
}
