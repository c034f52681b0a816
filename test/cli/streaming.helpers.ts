// Shared by the streaming verify/export tests: a ChainSource that records what a reader asked for and
// how far its checkpoint reads ran ahead of its entry reads (the checkpoints it may have to hold), a
// reference export built the slow, obvious way, and a few ways to present a chain dishonestly.
import type { ChainSource, ExportCheckpoint, ExportEntry } from '../../src/chain/export.js';
import { EXPORT_FORMAT, EXPORT_VERSION } from '../../src/chain/export.js';
import { formatCheckpointBody, signNote } from '../../src/chain/checkpoint.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { fromHex0x } from '../../src/chain/encoding.js';
import { MerkleTree } from '../../src/chain/merkle.js';
import type { ChainKeys } from '../../src/chain/keys.js';
import type { ChainStore, StoredCheckpoint } from '../../src/store/port.js';

export interface ReadStats {
  /** Largest `limit` asked of entries() / checkpoints(), and the largest page actually returned. */
  maxEntryLimit: number;
  maxCheckpointLimit: number;
  maxEntryPage: number;
  maxCheckpointPage: number;
  entriesRead: number;
  checkpointsRead: number;
  /**
   * Most checkpoints ever read whose size the entries read so far did not reach: a reader has to keep
   * those (or re-read them) until the entries catch up, so this bounds what it holds at once.
   */
  maxAhead: number;
}

export function recording(inner: ChainSource): { source: ChainSource; stats: ReadStats } {
  const stats: ReadStats = { maxEntryLimit: 0, maxCheckpointLimit: 0, maxEntryPage: 0, maxCheckpointPage: 0, entriesRead: 0, checkpointsRead: 0, maxAhead: 0 };
  let ahead: number[] = []; // sizes of the checkpoints read and not yet covered by the entries read
  const settle = () => {
    ahead = ahead.filter((s) => s > stats.entriesRead);
    stats.maxAhead = Math.max(stats.maxAhead, ahead.length);
  };
  return {
    stats,
    source: {
      ...inner,
      async entries(from, limit) {
        stats.maxEntryLimit = Math.max(stats.maxEntryLimit, limit);
        const page = await inner.entries(from, limit);
        stats.maxEntryPage = Math.max(stats.maxEntryPage, page.length);
        if (page.length > 0) stats.entriesRead = Math.max(stats.entriesRead, page.at(-1)!.entry.seq + 1);
        settle();
        return page;
      },
      async checkpoints(from, limit) {
        stats.maxCheckpointLimit = Math.max(stats.maxCheckpointLimit, limit);
        const page = await inner.checkpoints(from, limit);
        stats.maxCheckpointPage = Math.max(stats.maxCheckpointPage, page.length);
        stats.checkpointsRead += page.length;
        ahead.push(...page.map((c) => c.size));
        settle();
        return page;
      },
    },
  };
}

/** The export of a store as docs/export-format.md describes it, built from everything in memory at once. */
export async function referenceExport(chain: ChainStore, origin: string, keys: ChainKeys, exportedAt: string, describe: string): Promise<string[]> {
  const head = await chain.head();
  const entries = await chain.entries(0, head ? head.seq + 1 : 0);
  const latest = await chain.latestCheckpoint();
  const cps = await chain.checkpoints(0, latest ? latest.index + 1 : 0);
  const out = [
    JSON.stringify({ type: EXPORT_FORMAT, version: EXPORT_VERSION, origin, exportedAt, source: describe }),
    JSON.stringify({ type: 'keys', keys: keys.publicKeys() }),
  ];
  const cp = (c: StoredCheckpoint) => JSON.stringify({ type: 'checkpoint', index: c.index, size: c.size, rootHash: c.rootHash, time: c.time, note: c.note } satisfies ExportCheckpoint);
  let ci = 0;
  for (const e of entries) {
    out.push(JSON.stringify({ type: 'entry', entry: JSON.parse(e.canonical) as ExportEntry['entry'], hash: e.hash, sig: e.sig, keyId: e.keyId } satisfies ExportEntry));
    while (ci < cps.length && cps[ci]!.size <= e.seq + 1) out.push(cp(cps[ci++]!));
  }
  while (ci < cps.length) out.push(cp(cps[ci++]!));
  out.push(JSON.stringify({ type: 'end', entries: entries.length, checkpoints: cps.length }));
  return out;
}

/** A checkpoint note signed by the log's own key over `root` (default: the true root of the first `size` entries). */
export async function signedNote(chain: ChainStore, keys: ChainKeys, size: number, root?: Uint8Array): Promise<string> {
  let rootHash = root;
  if (!rootHash) {
    const tree = new MerkleTree(nodeCrypto);
    for (const h of await chain.leafHashes(0, size)) tree.append(fromHex0x(h));
    rootHash = tree.root();
  }
  return signNote(formatCheckpointBody({ origin: keys.origin, size, rootHash, time: new Date().toISOString() }), keys.origin, keys.signer, nodeCrypto);
}

/** Flip one proof hash (or add a bogus one to an empty proof). */
export function corruptProof(hashes: string[]): string[] {
  if (hashes.length === 0) return [`0x${'ab'.repeat(32)}`];
  const h = hashes[0]!;
  return [`${h.slice(0, -1)}${h.endsWith('0') ? '1' : '0'}`, ...hashes.slice(1)];
}
