// RFC 9162 Merkle tree: transparency-dev/merkle vectors, property tests against the recursive reference,
// and the RFC verification algorithms accepting real proofs and rejecting mutated ones.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pureCrypto } from '../../src/chain/crypto.js';
import { fromHex, toHex } from '../../src/chain/encoding.js';
import { emptyRoot, leafHash, nodeHash } from '../../src/chain/hash.js';
import {
  MerkleFrontier,
  MerkleRangeError,
  MerkleTree,
  referenceConsistency,
  referenceInclusion,
  referenceRoot,
  verifyConsistency,
  verifyInclusion,
} from '../../src/chain/merkle.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';

interface Vectors {
  leafInputs: string[];
  rootHashes: string[];
  nodeHashes: string[][];
  inclusionProofs: { leaf: number; size: number; proof: string[] }[];
  consistencyProofs: { size1: number; size2: number; proof: string[] }[];
}
const v = JSON.parse(readFileSync(new URL('../vectors/merkle-transparency-dev.json', import.meta.url), 'utf8')) as Vectors;
const leaves = v.leafInputs.map((h) => leafHash(fromHex(h)));
const hexes = (a: Uint8Array[]): string[] => a.map(toHex);

/** Deterministic distinct leaf hashes. */
function makeLeaves(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(nodeCrypto.sha256(new Uint8Array([i & 255, (i >> 8) & 255, (i >> 16) & 255, 7])));
  return out;
}

describe('transparency-dev/merkle vectors', () => {
  it('leaf hashes', () => {
    expect(hexes(leaves)).toEqual(v.nodeHashes[0]);
  });

  it('node hashes of all complete subtrees', () => {
    expect(toHex(nodeHash(leaves[0]!, leaves[1]!))).toBe(v.nodeHashes[1]![0]);
    const tree = MerkleTree.from(leaves);
    for (let level = 1; level < v.nodeHashes.length; level++) {
      v.nodeHashes[level]!.forEach((want, i) => {
        const width = 2 ** level;
        expect(toHex(referenceRoot(leaves.slice(i * width, (i + 1) * width)))).toBe(want);
      });
    }
    expect(toHex(tree.root())).toBe(v.nodeHashes[3]![0]);
  });

  it('roots of 0..8 leaves (incremental, rootAt, frontier, reference)', () => {
    const tree = new MerkleTree();
    const frontier = new MerkleFrontier();
    expect(toHex(tree.root())).toBe(v.rootHashes[0]);
    expect(toHex(frontier.root())).toBe(v.rootHashes[0]);
    expect(toHex(emptyRoot())).toBe(v.rootHashes[0]);
    leaves.forEach((leaf, i) => {
      tree.append(leaf);
      frontier.append(leaf);
      expect(toHex(tree.root())).toBe(v.rootHashes[i + 1]);
      expect(toHex(frontier.root())).toBe(v.rootHashes[i + 1]);
      expect(toHex(referenceRoot(leaves.slice(0, i + 1)))).toBe(v.rootHashes[i + 1]);
    });
    for (let n = 0; n <= 8; n++) expect(toHex(tree.rootAt(n))).toBe(v.rootHashes[n]);
  });

  it('inclusion proofs', () => {
    const tree = MerkleTree.from(leaves);
    for (const p of v.inclusionProofs) {
      expect(hexes(tree.inclusionProof(p.leaf, p.size))).toEqual(p.proof);
      expect(hexes(referenceInclusion(p.leaf, leaves.slice(0, p.size)))).toEqual(p.proof);
      const root = fromHex(v.rootHashes[p.size]!);
      expect(verifyInclusion(leaves[p.leaf]!, p.leaf, p.size, p.proof.map((h) => fromHex(h)), root)).toBe(true);
    }
  });

  it('consistency proofs', () => {
    const tree = MerkleTree.from(leaves);
    for (const p of v.consistencyProofs) {
      expect(hexes(tree.consistencyProof(p.size1, p.size2))).toEqual(p.proof);
      expect(hexes(referenceConsistency(p.size1, leaves.slice(0, p.size2)))).toEqual(p.proof);
      const r1 = fromHex(v.rootHashes[p.size1]!);
      const r2 = fromHex(v.rootHashes[p.size2]!);
      expect(verifyConsistency(p.size1, p.size2, r1, r2, p.proof.map((h) => fromHex(h)))).toBe(true);
    }
  });

  it('consistency edge cases (as transparency-dev TestVerifyConsistency, with size 0 bound to the empty root)', () => {
    const r1 = fromHex(v.rootHashes[1]!);
    const r2 = fromHex(v.rootHashes[2]!);
    const empty = emptyRoot();
    expect(verifyConsistency(0, 0, empty, empty, [])).toBe(true);
    expect(verifyConsistency(0, 1, empty, r1, [])).toBe(true);
    expect(verifyConsistency(0, 1, r1, r1, [])).toBe(false); // size 0 must have the empty root
    expect(verifyConsistency(1, 1, r1, r1, [])).toBe(true);
    expect(verifyConsistency(1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 0, r1, r2, [])).toBe(false); // time travel
    expect(verifyConsistency(2, 1, r2, r1, [])).toBe(false);
    expect(verifyConsistency(1, 2, r1, r2, [])).toBe(false); // empty proof
    expect(verifyConsistency(1, 1, r1, r1, [empty])).toBe(false); // equal roots but a non-empty proof
    expect(verifyConsistency(0, 1, empty, r1, [empty])).toBe(false);
  });
});

/** Mutations in the style of transparency-dev's corruptInclusionProof / corruptConsistencyProof. */
function mutations(proof: Uint8Array[], extra: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [
    [...proof, new Uint8Array(32)],
    [...proof, extra],
    [extra, ...proof],
    [new Uint8Array(0), ...proof],
  ];
  if (proof.length > 0) out.push(proof.slice(0, -1), proof.slice(1));
  if (proof.length > 1) out.push([proof[1]!, proof[0]!, ...proof.slice(2)].filter((_, i) => i < proof.length));
  proof.forEach((_, i) => {
    const p = proof.map((x) => x.slice());
    const h = p[i]!;
    h[i % 32]! ^= 8;
    out.push(p);
  });
  return out;
}

describe('properties against the recursive reference', () => {
  const sizeArb = fc.integer({ min: 1, max: 70 });

  it('roots, inclusion and consistency proofs equal the reference for random sizes', () => {
    fc.assert(
      fc.property(sizeArb, fc.nat(), fc.nat(), (n, a, b) => {
        const ls = makeLeaves(n);
        const tree = MerkleTree.from(ls, nodeCrypto);
        const size = 1 + (a % n);
        const index = b % size;
        const m = b % (size + 1);
        expect(toHex(tree.rootAt(size))).toBe(toHex(referenceRoot(ls.slice(0, size), nodeCrypto)));
        expect(hexes(tree.inclusionProof(index, size))).toEqual(hexes(referenceInclusion(index, ls.slice(0, size), nodeCrypto)));
        expect(hexes(tree.consistencyProof(m, size))).toEqual(hexes(referenceConsistency(m, ls.slice(0, size), nodeCrypto)));
      }),
      { numRuns: 300 },
    );
  });

  it('verifyInclusion accepts real proofs and rejects mutated ones', () => {
    fc.assert(
      fc.property(sizeArb, fc.nat(), (n, a) => {
        const ls = makeLeaves(n);
        const tree = MerkleTree.from(ls, nodeCrypto);
        const index = a % n;
        const root = tree.root();
        const proof = tree.inclusionProof(index, n);
        expect(verifyInclusion(ls[index]!, index, n, proof, root, nodeCrypto)).toBe(true);
        // wrong leaf, index, size, root
        if (n > 1) expect(verifyInclusion(ls[(index + 1) % n]!, index, n, proof, root, nodeCrypto)).toBe(false);
        expect(verifyInclusion(ls[index]!, index + 1, n, proof, root, nodeCrypto)).toBe(false);
        if (index > 0) expect(verifyInclusion(ls[index]!, index - 1, n, proof, root, nodeCrypto)).toBe(false);
        expect(verifyInclusion(ls[index]!, index, n * 2, proof, root, nodeCrypto)).toBe(false);
        // (size + 1 can verify against the same root for some shapes: the root, bound to its size by the
        // checkpoint, is what fixes the size. transparency-dev probes *2 and /2 the same way.)
        if (n > 1) expect(verifyInclusion(ls[index]!, index, Math.floor(n / 2), proof, root, nodeCrypto)).toBe(false);
        expect(verifyInclusion(ls[index]!, index, n, proof, emptyRoot(), nodeCrypto)).toBe(false);
        for (const bad of mutations(proof, root)) {
          expect(verifyInclusion(ls[index]!, index, n, bad, root, nodeCrypto)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('verifyConsistency accepts real proofs and rejects mutated ones', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 70 }), fc.nat(), (n, a) => {
        const ls = makeLeaves(n);
        const tree = MerkleTree.from(ls, nodeCrypto);
        const m = 1 + (a % (n - 1)); // 1 <= m < n
        const r1 = tree.rootAt(m);
        const r2 = tree.rootAt(n);
        const proof = tree.consistencyProof(m, n);
        expect(verifyConsistency(m, n, r1, r2, proof, nodeCrypto)).toBe(true);
        expect(verifyConsistency(m, n, r2, r1, proof, nodeCrypto)).toBe(false);
        expect(verifyConsistency(m + 1, n, r1, r2, proof, nodeCrypto)).toBe(false);
        expect(verifyConsistency(m - 1, n, r1, r2, proof, nodeCrypto)).toBe(false);
        expect(verifyConsistency(m, n * 2, r1, r2, proof, nodeCrypto)).toBe(false);
        expect(verifyConsistency(m, n, r1, r2, [], nodeCrypto)).toBe(false);
        // A forked tree (last leaf replaced) is not consistent with the real old root.
        const forked = MerkleTree.from([...ls.slice(0, -1), emptyRoot()], nodeCrypto);
        expect(verifyConsistency(m, n, r1, forked.root(), proof, nodeCrypto)).toBe(false);
        for (const bad of mutations(proof, r1)) {
          expect(verifyConsistency(m, n, r1, r2, bad, nodeCrypto)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('pure and node hashing build the same tree', () => {
    const ls = makeLeaves(37);
    expect(toHex(MerkleTree.from(ls, pureCrypto).root())).toBe(toHex(MerkleTree.from(ls, nodeCrypto).root()));
  });
});

describe('MerkleTree at scale', () => {
  it('proofs and old roots cost O(log n) hashes (cached subtrees, no rehash of leaves)', () => {
    let hashes = 0;
    const counting = { sha256: (d: Uint8Array) => (hashes++, nodeCrypto.sha256(d)), verifyEd25519: nodeCrypto.verifyEd25519 };
    const tree = MerkleTree.from(makeLeaves(5000), counting);
    for (const [what, run] of [
      ['inclusion', () => tree.inclusionProof(1234, 4999)],
      ['consistency', () => tree.consistencyProof(1111, 4999)],
      ['rootAt', () => tree.rootAt(4097)],
      ['root', () => tree.root()],
    ] as const) {
      hashes = 0;
      run();
      // log2(5000) ~ 13: a rehash of the leaves would need ~5000.
      expect(hashes, what).toBeLessThanOrEqual(2 * 13);
    }
  });

  it('serves a large tree (2^17 + 3 leaves) with ~64 bytes per leaf; proofs for old and new sizes verify', () => {
    const n = (1 << 17) + 3;
    const tree = new MerkleTree(nodeCrypto);
    const leaf = new Uint8Array(32);
    const dv = new DataView(leaf.buffer);
    for (let i = 0; i < n; i++) {
      dv.setUint32(0, i);
      tree.append(leaf);
    }
    expect(tree.size).toBe(n);
    // 64 bytes per leaf plus at most one partly filled 128 KiB chunk per level.
    expect(tree.byteSize()).toBeLessThanOrEqual(64 * n + 18 * 128 * 1024);
    const m = 100_001;
    const root = tree.rootAt(m);
    const proof = tree.inclusionProof(77_777, m);
    dv.setUint32(0, 77_777);
    expect(verifyInclusion(leaf, 77_777, m, proof, root, nodeCrypto)).toBe(true);
    expect(proof.length).toBeLessThanOrEqual(17);
    const cproof = tree.consistencyProof(50_003, n);
    expect(verifyConsistency(50_003, n, tree.rootAt(50_003), tree.root(), cproof, nodeCrypto)).toBe(true);
  });

  it('range errors', () => {
    const tree = MerkleTree.from(makeLeaves(5));
    expect(() => tree.rootAt(6)).toThrow(MerkleRangeError);
    expect(() => tree.inclusionProof(5, 5)).toThrow(MerkleRangeError);
    expect(() => tree.consistencyProof(4, 6)).toThrow(MerkleRangeError);
    expect(() => tree.consistencyProof(5, 4)).toThrow(MerkleRangeError);
    expect(() => tree.append(new Uint8Array(31))).toThrow(TypeError);
    expect(tree.consistencyProof(0, 5)).toEqual([]);
    expect(tree.consistencyProof(5, 5)).toEqual([]);
  });
});
