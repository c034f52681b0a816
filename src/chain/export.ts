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
// public endpoints (ainfera export --url); both produce the same bytes for the same chain.
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

/** Where an export reads from: a store directly, or a server's public endpoints. */
export interface ChainSource {
  describe: string;
  origin(): Promise<string>;
  keys(): Promise<PublicKeyInfo[]>;
  /** Up to `limit` envelopes from `from`, in seq order. */
  entries(from: number, limit: number): Promise<Envelope[]>;
  /** Up to `limit` checkpoints from index `from`, in index order. */
  checkpoints(from: number, limit: number): Promise<StoredCheckpoint[]>;
}

export function storeSource(chain: ChainStore, origin: string, keys: PublicKeyInfo[], describe: string): ChainSource {
  return {
    describe,
    origin: async () => origin,
    keys: async () => keys,
    entries: async (from, limit) => (await chain.entries(from, limit)).map(envelopeOf),
    checkpoints: (from, limit) => chain.checkpoints(from, limit),
  };
}

export interface ExportProgress {
  entries: number;
  checkpoints: number;
}

/** Every checkpoint of a source, in block-height order (paged reads). */
export async function readAllCheckpoints(source: Pick<ChainSource, 'checkpoints'>, pageSize: number): Promise<StoredCheckpoint[]> {
  const cps: StoredCheckpoint[] = [];
  for (let from = 0; ; ) {
    const page = await source.checkpoints(from, pageSize);
    cps.push(...page);
    if (page.length < pageSize) return cps;
    from += page.length;
  }
}

/**
 * Stream the whole chain as export lines. The snapshot is taken at the latest checkpoint read at the
 * start, extended to every entry present: entries after the last checkpoint are included too.
 */
export async function* exportLines(source: ChainSource, opts: { pageSize?: number; now?: () => Date } = {}): AsyncGenerator<string, ExportProgress> {
  const pageSize = opts.pageSize ?? 1000;
  const now = opts.now ?? (() => new Date());
  const header: ExportHeader = { type: EXPORT_FORMAT, version: EXPORT_VERSION, origin: await source.origin(), exportedAt: now().toISOString(), source: source.describe };
  yield JSON.stringify(header);
  const keys: ExportKeys = { type: 'keys', keys: await source.keys() };
  yield JSON.stringify(keys);

  // Checkpoints first into memory (small: one per second of traffic at most), then interleave.
  const cps = await readAllCheckpoints(source, pageSize);
  let ci = 0;
  let seq = 0;
  const emitCheckpointsUpTo = function* (size: number): Generator<string> {
    while (ci < cps.length && cps[ci]!.size <= size) {
      const cp = cps[ci++]!;
      const rec: ExportCheckpoint = { type: 'checkpoint', index: cp.index, size: cp.size, rootHash: cp.rootHash, time: cp.time, note: cp.note };
      yield JSON.stringify(rec);
    }
  };
  for (;;) {
    const page = await source.entries(seq, pageSize);
    for (const env of page) {
      const rec: ExportEntry = { type: 'entry', entry: env.entry, hash: env.hash, sig: env.sig, keyId: env.keyId };
      yield JSON.stringify(rec);
      seq++;
      yield* emitCheckpointsUpTo(seq);
    }
    if (page.length < pageSize) break;
  }
  // Checkpoints larger than the entries read cannot exist in a consistent store; keep them anyway so
  // the verifier reports the truncation instead of the export hiding it.
  yield* emitCheckpointsUpTo(Number.MAX_SAFE_INTEGER);
  const end: ExportEnd = { type: 'end', entries: seq, checkpoints: cps.length };
  yield JSON.stringify(end);
  return { entries: seq, checkpoints: cps.length };
}
