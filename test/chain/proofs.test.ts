// ProofService following this process's appender: proofs for local entries come from the appender's
// own hashes, and entries appended through another store instance (as another process would) are
// read from the store when a local batch lands after them or a proof asks for them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainAppender } from '../../src/chain/appender.js';
import { fromHex0x } from '../../src/chain/encoding.js';
import { verifyConsistency, verifyInclusion } from '../../src/chain/merkle.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { ProofService } from '../../src/chain/proofs.js';
import { openStore } from '../../src/store/index.js';
import type { ChainStore } from '../../src/store/port.js';
import { event, openChain, tempDir } from './appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('ainfera-proofs-');
});
afterEach(() => tmp.cleanup());

/** Every leaf's inclusion proof in the tree of `size`, checked against the root computed from the store. */
async function checkAll(proofs: ProofService, chain: ChainStore, size: number): Promise<void> {
  const leaves = (await chain.leafHashes(0, size)).map((h) => fromHex0x(h));
  expect(leaves).toHaveLength(size);
  const root = fromHex0x(await proofs.rootAt(size));
  for (let seq = 0; seq < size; seq++) {
    const p = await proofs.inclusion(seq, size);
    expect(verifyInclusion(leaves[seq]!, seq, size, p.hashes.map((h) => fromHex0x(h)), root, nodeCrypto), `seq ${seq}`).toBe(true);
  }
}

describe('ProofService following the local appender', () => {
  it('grows from local batches without reading them back, and reads entries another writer appended in between', async () => {
    const local = await openChain(tmp.dir, { signingWorkers: 0 });
    // Count every store read the proof service makes.
    let leafReads = 0;
    let watches = 0;
    const counted: ChainStore = Object.create(local.store.chain) as ChainStore;
    counted.leafHashes = async (from, to) => {
      leafReads++;
      return local.store.chain.leafHashes(from, to);
    };
    counted.watch = (...args) => {
      watches++;
      return local.store.chain.watch(...args);
    };
    const proofs = await ProofService.open(counted, { follow: (cb) => local.appender.onAppended(cb) });
    const other = await openStore({ kind: 'embedded', dataDir: tmp.dir });
    const otherAppender = await ChainAppender.open({ chain: other.chain, keys: local.keys, checkpointIntervalMs: 0, signingWorkers: 0 });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => local.appender.append(event(i))));
      expect(proofs.size).toBe(20);
      const readsAfterLocal = leafReads;
      await checkAll(proofs, local.store.chain, 20);
      expect(leafReads).toBe(readsAfterLocal); // local entries never read back
      expect(watches).toBe(0);

      // Another writer appends 7; then a local batch lands after them (the local appender resyncs).
      await Promise.all(Array.from({ length: 7 }, (_, i) => otherAppender.append(event(100 + i))));
      const readsBeforeGap = leafReads;
      await Promise.all(Array.from({ length: 5 }, (_, i) => local.appender.append(event(200 + i))));
      const head = (await local.store.chain.head())!;
      expect(head.seq).toBe(31);
      // The local batch landed after a gap: the tree catches up on its own (no proof asked yet).
      for (let i = 0; i < 200 && proofs.size < 32; i++) await new Promise((r) => setTimeout(r, 5));
      expect(proofs.size).toBe(32);
      expect(leafReads).toBeGreaterThan(readsBeforeGap);
      await checkAll(proofs, local.store.chain, 32);

      // Entries only the other writer appended are covered when a proof asks for them.
      await Promise.all(Array.from({ length: 3 }, (_, i) => otherAppender.append(event(300 + i))));
      await checkAll(proofs, local.store.chain, 35);
      const c = await proofs.consistency(20, 35);
      const leaves = (await local.store.chain.leafHashes(0, 35)).map((h) => fromHex0x(h));
      const { MerkleTree } = await import('../../src/chain/merkle.js');
      const t = new MerkleTree(nodeCrypto);
      for (const l of leaves) t.append(l);
      expect(verifyConsistency(20, 35, t.rootAt(20), t.rootAt(35), c.hashes.map((h) => fromHex0x(h)), nodeCrypto)).toBe(true);
    } finally {
      proofs.close();
      await otherAppender.close();
      await other.close();
      await local.close();
    }
  });
});
