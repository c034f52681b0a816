// ProofService keeps only page-level and higher hashes in memory (PagedMerkleTree) and reads leaf pages
// from the store for the rest. Its proofs must be byte-identical to the full in-memory MerkleTree's at
// every size (page boundaries, the right edge, a partial last page) and verify with the pure verifier;
// entries another store instance appends are covered; and what it holds stays a small fraction of the
// full tree. Real SQLite store, real appender.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainAppender } from '../../src/chain/appender.js';
import { fromHex0x, toHex0x } from '../../src/chain/encoding.js';
import { MerkleTree, verifyConsistency, verifyInclusion } from '../../src/chain/merkle.js';
import { PageMismatchError } from '../../src/chain/merkle-pages.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { ProofService } from '../../src/chain/proofs.js';
import { openStore } from '../../src/store/index.js';
import type { ChainStore } from '../../src/store/port.js';
import { event, openChain, tempDir } from './appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('ainfera-proofs-paged-');
});
afterEach(() => tmp.cleanup());

async function fullTree(chain: ChainStore, size: number): Promise<MerkleTree> {
  const leaves = await chain.leafHashes(0, size);
  expect(leaves).toHaveLength(size);
  return MerkleTree.from(leaves.map((h) => fromHex0x(h)), nodeCrypto);
}

const same = (a: readonly string[], b: readonly Uint8Array[]): boolean => a.length === b.length && a.every((h, i) => h === toHex0x(b[i]!));

/** Appends `n` entries through the appender in batches of varying size (1..13), calling `each` after every batch. */
async function appendInBatches(appender: ChainAppender, n: number, each?: () => Promise<void>): Promise<void> {
  let i = 0;
  for (let b = 0; i < n; b++) {
    const k = Math.min(n - i, 1 + ((b * 7) % 13));
    await Promise.all(Array.from({ length: k }, (_, j) => appender.append(event(i + j))));
    i += k;
    await each?.();
  }
}

/**
 * Inclusion proofs of `seqs` in the tree of `size` and consistency proofs from `froms` to `size`: equal
 * to the full tree's and verified. Returns the mismatches (collected, so one expect reports them all).
 */
async function check(proofs: ProofService, t: MerkleTree, size: number, seqs: Iterable<number>, froms: Iterable<number> = [], verify = true): Promise<string[]> {
  const bad: string[] = [];
  const root = t.rootAt(size);
  if ((await proofs.rootAt(size)) !== toHex0x(root)) bad.push(`root ${size}`);
  for (const seq of seqs) {
    if (seq < 0 || seq >= size) continue;
    const p = await proofs.inclusion(seq, size);
    const want = t.inclusionProof(seq, size);
    if (!same(p.hashes, want) || (verify && !verifyInclusion(t.leaf(seq), seq, size, p.hashes.map((h) => fromHex0x(h)), root, nodeCrypto))) bad.push(`inclusion ${seq} in ${size}`);
  }
  for (const m of froms) {
    if (m < 0 || m > size) continue;
    const c = await proofs.consistency(m, size);
    const want = t.consistencyProof(m, size);
    if (!same(c.hashes, want) || !verifyConsistency(m, size, t.rootAt(m), root, c.hashes.map((h) => fromHex0x(h)), nodeCrypto)) bad.push(`consistency ${m} -> ${size}`);
  }
  return bad;
}

const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
/** Sizes around multiples of 256 and powers of two up to `max`. */
function edges(max: number): number[] {
  const s = new Set<number>([1, 2, 3, 4, 5, 7, 8, 9]);
  for (let m = 128; m <= max + 1; m += 128) for (const d of [-2, -1, 0, 1, 2]) s.add(m + d);
  for (let p = 16; p <= max; p *= 2) for (const d of [-1, 0, 1]) s.add(p + d);
  s.add(max);
  return [...s].filter((x) => x >= 1 && x <= max).sort((a, b) => a - b);
}

describe('ProofService over a paged tree (256 leaves a page)', () => {
  it('inclusion proofs at every size 1..600 (every leaf up to 300 and at page edges) and a consistency grid, equal the full tree and verify', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    const proofs = await ProofService.open(local.store.chain, { follow: (cb) => local.appender.onAppended(cb) });
    try {
      // While it grows: proofs at the current size (the last page partly in memory) after each batch.
      const grow: string[] = [];
      await appendInBatches(local.appender, 600, async () => {
        const size = proofs.size;
        const t = await fullTree(local.store.chain, size);
        grow.push(...(await check(proofs, t, size, [0, size >> 1, 255, 256, size - 2, size - 1], [1, 255, 256, 257, size - 1])));
      });
      expect(grow).toEqual([]);
      expect(proofs.size).toBe(600);

      // Then every size (older sizes: complete pages are read back from the store): every leaf for sizes
      // up to 300 and around page boundaries; above 300 (to keep the file fast) every 7th leaf and the
      // whole last page. Equal bytes to the full tree's proofs; the verifier runs on every 5th size.
      const t = await fullTree(local.store.chain, 600);
      const grid = edges(600);
      const bad: string[] = [];
      for (let size = 1; size <= 600; size++) {
        const every = size <= 300 || grid.includes(size);
        const seqs = range(0, size).filter((s) => every || s % 7 === 0 || s >= size - (size % 256) || s % 256 === 255);
        bad.push(...(await check(proofs, t, size, seqs, [], size % 5 === 0)));
      }
      for (const n of grid) bad.push(...(await check(proofs, t, n, [], [0, ...grid.filter((m) => m <= n)])));
      expect(bad).toEqual([]);
    } finally {
      proofs.close();
      await local.close();
    }
  });

  it('a few thousand entries: a fresh service rebuilt from the store, with and without its page cache', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    try {
      await Promise.all(Array.from({ length: 3001 }, (_, i) => local.appender.append(event(i))));
      const t = await fullTree(local.store.chain, 3001);
      for (const cachePages of [32, 0]) {
        // Without the cache every proof reads its pages from the store: fewer sizes.
        const grid = cachePages ? edges(3001) : [1, 2, 255, 256, 257, 1023, 1024, 1025, 2048, 2049, 2999, 3000, 3001];
        // Without follow: the store's feed (a process that does not append).
        const proofs = await ProofService.open(local.store.chain, { cachePages });
        try {
          expect(proofs.size).toBe(3001);
          const bad: string[] = [];
          for (const n of grid) bad.push(...(await check(proofs, t, n, [...range(0, n).filter((s) => s % 97 === 0 || n - s <= 2 || s % 256 === 0 || s % 256 === 255)], grid)));
          expect(bad).toEqual([]);
          if (cachePages === 0) expect(proofs.heldHashes.cache).toBe(0);
        } finally {
          proofs.close();
        }
      }
    } finally {
      await local.close();
    }
  });

  it('small pages (4 leaves): deep upper levels, every inclusion and consistency proof for sizes 1..140', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    const proofs = await ProofService.open(local.store.chain, { follow: (cb) => local.appender.onAppended(cb), pageBits: 2, cachePages: 2 });
    try {
      await appendInBatches(local.appender, 140);
      const t = await fullTree(local.store.chain, 140);
      const bad: string[] = [];
      for (let size = 1; size <= 140; size++) bad.push(...(await check(proofs, t, size, range(0, size), range(0, size + 1))));
      expect(bad).toEqual([]);
    } finally {
      proofs.close();
      await local.close();
    }
  });

  it('entries another store instance appends (another process) land in the right pages', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    const proofs = await ProofService.open(local.store.chain, { follow: (cb) => local.appender.onAppended(cb), pageBits: 4 });
    const other = await openStore({ kind: 'embedded', dataDir: tmp.dir });
    const otherAppender = await ChainAppender.open({ chain: other.chain, keys: local.keys, checkpointIntervalMs: 0, signingWorkers: 0 });
    try {
      const bad: string[] = [];
      // Interleave: the other writer's runs straddle page boundaries (16 leaves a page).
      for (let round = 0; round < 12; round++) {
        await Promise.all(Array.from({ length: 5 + round }, (_, i) => otherAppender.append(event(1000 + round * 50 + i))));
        await Promise.all(Array.from({ length: 3 + (round % 4) }, (_, i) => local.appender.append(event(round * 50 + i))));
        // A proof at the store's head reads what the tree lacks (a catch-up may be running too).
        const size = (await local.store.chain.head())!.seq + 1;
        const t = await fullTree(local.store.chain, size);
        bad.push(...(await check(proofs, t, size, range(0, size), [1, 15, 16, 17, size >> 1, size - 1])));
      }
      expect(bad).toEqual([]);
      for (let i = 0; i < 200 && proofs.size < (await local.store.chain.head())!.seq + 1; i++) await new Promise((r) => setTimeout(r, 5));
      const size = proofs.size;
      expect(size).toBe((await local.store.chain.head())!.seq + 1);
      const t = await fullTree(local.store.chain, size);
      expect(await check(proofs, t, size, range(0, size), range(0, size + 1))).toEqual([]);
    } finally {
      proofs.close();
      await otherAppender.close();
      await other.close();
      await local.close();
    }
  });

  it('holds ~2 hashes per page plus the last page, not ~2 per entry; the page cache is bounded', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    const proofs = await ProofService.open(local.store.chain, { follow: (cb) => local.appender.onAppended(cb) });
    const small = await ProofService.open(local.store.chain, { follow: (cb) => local.appender.onAppended(cb), pageBits: 4, cachePages: 3 });
    try {
      const N = 3000;
      await Promise.all(Array.from({ length: N }, (_, i) => local.appender.append(event(i))));
      expect(proofs.size).toBe(N);
      expect(small.size).toBe(N);
      const full = await fullTree(local.store.chain, N);
      const fullHashes = full.byteSize() / 32; // ~2 per entry (allocated in chunks: at least 2N - 1)
      expect(fullHashes).toBeGreaterThanOrEqual(2 * N - 1);
      // Page 256: 11 complete pages -> at most 2 * 11 upper hashes, plus the 184 leaves of the last page.
      expect(proofs.heldHashes.tree).toBeLessThanOrEqual(2 * Math.floor(N / 256) + (N % 256));
      expect(proofs.heldHashes.tree).toBeLessThan(fullHashes / 20);
      // Page 16: 187 complete pages -> at most 374 upper hashes, plus 8 leaves: ~N / 8.
      expect(small.heldHashes.tree).toBeLessThanOrEqual(2 * Math.floor(N / 16) + (N % 16));
      expect(small.heldHashes.tree).toBeGreaterThanOrEqual(Math.floor(N / 16)); // the page roots themselves
      // Proofs all over the tree fill the cache, which stays within its pages (each at most 2P - 1 hashes).
      for (let seq = 0; seq < N; seq += 97) await small.inclusion(seq, N - 5);
      expect(small.heldHashes.cache).toBeGreaterThan(0);
      expect(small.heldHashes.cache).toBeLessThanOrEqual(3 * (2 * 16 - 1));
      expect(small.heldHashes.tree).toBeLessThanOrEqual(2 * Math.floor(N / 16) + (N % 16));
    } finally {
      proofs.close();
      small.close();
      await local.close();
    }
  });

  it('a page whose stored leaves no longer hash to the root it holds fails the proof instead of answering wrongly', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => local.appender.append(event(i))));
      // A view of the store whose leaf 5 reads differently (the rows changed under the service).
      const tampered: ChainStore = Object.create(local.store.chain) as ChainStore;
      let tamper = false;
      tampered.leafHashes = async (from, to) => {
        const hs = await local.store.chain.leafHashes(from, to);
        if (tamper && from <= 5 && 5 < to) hs[5 - from] = `0x${'ab'.repeat(32)}`;
        return hs;
      };
      const proofs = await ProofService.open(tampered, { pageBits: 3, cachePages: 0 });
      try {
        tamper = true;
        await expect(proofs.inclusion(1, 40)).rejects.toBeInstanceOf(PageMismatchError);
        // Pages the change does not touch still prove.
        const t = await fullTree(local.store.chain, 40);
        expect(await check(proofs, t, 40, [8, 20, 39], [9, 24])).toEqual([]);
      } finally {
        proofs.close();
      }
    } finally {
      await local.close();
    }
  });
});
