// RFC 9162 §2.1 Merkle tree: roots, inclusion proofs and consistency proofs.
//
// MerkleTree keeps every complete subtree root (level 0 = the leaves, level k = nodes over 2^k
// leaves), ~64 bytes per leaf in flat chunks rather than one object per hash. Any subtree the RFC
// recursion visits is either complete and aligned (one lookup) or on the right edge of the requested
// tree, so roots and proofs for any size cost O(log n) hashes, not a rehash of all leaves.
// MerkleFrontier keeps only the right edge (one hash per set bit of the size): what a streaming
// verifier needs to follow a log of millions of entries in bounded memory.
// verifyInclusion / verifyConsistency are the RFC 9162 §2.1.3.2 / §2.1.4.2 algorithms.
// Pure module.
import { pureCrypto, type ChainCrypto } from './crypto.js';
import { bytesEqual } from './encoding.js';
import { HASH_SIZE, emptyRoot, nodeHash } from './hash.js';

/** A size/index argument is out of range for the tree. */
export class MerkleRangeError extends RangeError {
  override readonly name = 'MerkleRangeError';
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Largest power of two strictly smaller than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

const CHUNK_HASHES = 4096; // 128 KiB per full chunk

/** Append-only array of 32-byte hashes in chunks (no per-hash object, no big copies when growing). */
class HashStore {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(hash: Uint8Array): void {
    const within = this.length % CHUNK_HASHES;
    const chunkIndex = (this.length - within) / CHUNK_HASHES;
    let chunk = this.chunks[chunkIndex];
    if (!chunk) {
      // The first chunk grows by doubling so tiny trees (and the sparse upper levels) stay tiny.
      chunk = new Uint8Array(chunkIndex === 0 ? 8 * HASH_SIZE : CHUNK_HASHES * HASH_SIZE);
      this.chunks.push(chunk);
    } else if ((within + 1) * HASH_SIZE > chunk.length) {
      const bigger = new Uint8Array(Math.min(chunk.length * 2, CHUNK_HASHES * HASH_SIZE));
      bigger.set(chunk);
      chunk = bigger;
      this.chunks[chunkIndex] = chunk;
    }
    chunk.set(hash.subarray(0, HASH_SIZE), within * HASH_SIZE);
    this.length++;
  }

  /** A view (not a copy) of hash i. */
  get(i: number): Uint8Array {
    const within = i % CHUNK_HASHES;
    const chunk = this.chunks[(i - within) / CHUNK_HASHES]!;
    return chunk.subarray(within * HASH_SIZE, (within + 1) * HASH_SIZE);
  }

  byteSize(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }
}

export class MerkleTree {
  private readonly levels: HashStore[] = [new HashStore()];
  private cachedRoot: Uint8Array | null = null;

  constructor(private readonly c: ChainCrypto = pureCrypto) {}

  /** Build from leaf hashes (e.g. the store's leafHashes on start). */
  static from(leaves: Iterable<Uint8Array>, c: ChainCrypto = pureCrypto): MerkleTree {
    const t = new MerkleTree(c);
    for (const leaf of leaves) t.append(leaf);
    return t;
  }

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Append one 32-byte leaf hash; returns its index. Amortized one node hash per leaf. */
  append(leaf: Uint8Array): number {
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_SIZE) throw new TypeError('leaf hash must be 32 bytes');
    const index = this.size;
    this.levels[0]!.push(leaf);
    let level = 0;
    let i = index;
    // Each time i is a right child, its pair just became complete: store the parent one level up.
    while (i % 2 === 1) {
      const store = this.levels[level]!;
      const parent = nodeHash(store.get(i - 1), store.get(i), this.c);
      level++;
      i = (i - 1) / 2;
      let up = this.levels[level];
      if (!up) {
        up = new HashStore();
        this.levels.push(up);
      }
      up.push(parent);
    }
    this.cachedRoot = null;
    return index;
  }

  /** Copy of leaf hash i. */
  leaf(index: number): Uint8Array {
    if (!isSize(index) || index >= this.size) throw new MerkleRangeError(`leaf index ${index} out of range (size ${this.size})`);
    return this.levels[0]!.get(index).slice();
  }

  /** MTH(D[start:end]) for a subtree the RFC recursion can visit (start aligned to the left part). */
  private subtree(start: number, end: number): Uint8Array {
    const n = end - start;
    if (n === 1) return this.levels[0]!.get(start);
    if (isPowerOfTwo(n) && start % n === 0) {
      const level = Math.log2(n);
      return this.levels[level]!.get(start / n);
    }
    const k = splitPoint(n);
    return nodeHash(this.subtree(start, start + k), this.subtree(start + k, end), this.c);
  }

  root(): Uint8Array {
    if (!this.cachedRoot) this.cachedRoot = this.rootAt(this.size);
    return this.cachedRoot.slice();
  }

  /** Root of the first `size` leaves (any size up to the current one). */
  rootAt(size: number): Uint8Array {
    if (!isSize(size) || size > this.size) throw new MerkleRangeError(`size ${size} out of range (size ${this.size})`);
    if (size === 0) return emptyRoot(this.c);
    return this.subtree(0, size).slice();
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf-to-root order. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    if (!isSize(size) || size > this.size) throw new MerkleRangeError(`size ${size} out of range (size ${this.size})`);
    if (!isSize(index) || index >= size) throw new MerkleRangeError(`leaf index ${index} out of range for tree size ${size}`);
    return inclusionPath(index, size, (start, end) => this.subtree(start, end).slice());
  }

  /** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]); empty for m = 0 or m = n. */
  consistencyProof(m: number, n: number = this.size): Uint8Array[] {
    if (!isSize(n) || n > this.size) throw new MerkleRangeError(`size ${n} out of range (size ${this.size})`);
    if (!isSize(m) || m > n) throw new MerkleRangeError(`old size ${m} must be between 0 and ${n}`);
    if (m === 0 || m === n) return [];
    return consistencyPath(m, n, (start, end) => this.subtree(start, end).slice());
  }

  /** Bytes held for hashes (for capacity planning and the memory test). */
  byteSize(): number {
    let n = 0;
    for (const l of this.levels) n += l.byteSize();
    return n;
  }
}

/** MTH(D[start:end]) of a node the RFC 9162 recursion visits, however a tree stores or computes it. */
export type NodeHashOf = (start: number, end: number) => Uint8Array;

/**
 * RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf-to-root order, over any tree that can produce the nodes
 * the recursion visits (the in-memory MerkleTree, the paged tree of the proof service). Arguments are
 * the caller's to check (0 <= index < size).
 */
export function inclusionPath(index: number, size: number, node: NodeHashOf): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (m: number, start: number, n: number): void => {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, start, k);
      out.push(node(start + k, start + n));
    } else {
      walk(m - k, start + k, n - k);
      out.push(node(start, start + k));
    }
  };
  walk(index, 0, size);
  return out;
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) for 0 < m < n (the caller answers m = 0 and m = n: empty). */
export function consistencyPath(m: number, n: number, node: NodeHashOf): Uint8Array[] {
  const out: Uint8Array[] = [];
  const sub = (mm: number, start: number, nn: number, whole: boolean): void => {
    if (mm === nn) {
      if (!whole) out.push(node(start, start + nn));
      return;
    }
    const k = splitPoint(nn);
    if (mm <= k) {
      sub(mm, start, k, whole);
      out.push(node(start + k, start + nn));
    } else {
      sub(mm - k, start + k, nn - k, false);
      out.push(node(start, start + k));
    }
  };
  sub(m, 0, n, true);
  return out;
}

/**
 * The right edge of a tree: the roots of its maximal complete subtrees, largest first. Enough to append
 * and to compute the current root; nothing else. O(log n) memory.
 */
export class MerkleFrontier {
  private readonly nodes: Uint8Array[] = [];
  private _size = 0;

  constructor(private readonly c: ChainCrypto = pureCrypto) {}

  get size(): number {
    return this._size;
  }

  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new TypeError('leaf hash must be 32 bytes');
    let h = leaf;
    let n = this._size;
    // Like incrementing a binary counter: each trailing 1 bit merges two equal subtrees.
    while (n % 2 === 1) {
      h = nodeHash(this.nodes.pop()!, h, this.c);
      n = (n - 1) / 2;
    }
    this.nodes.push(h);
    this._size++;
  }

  root(): Uint8Array {
    if (this._size === 0) return emptyRoot(this.c);
    let r = this.nodes[this.nodes.length - 1]!;
    for (let i = this.nodes.length - 2; i >= 0; i--) r = nodeHash(this.nodes[i]!, r, this.c);
    return r.slice();
  }

  /** The stored right-edge hashes (copies), largest subtree first. */
  hashes(): Uint8Array[] {
    return this.nodes.map((h) => h.slice());
  }
}

function allHashes(proof: readonly Uint8Array[]): boolean {
  for (const p of proof) if (!(p instanceof Uint8Array) || p.length !== HASH_SIZE) return false;
  return true;
}

const half = (x: number): number => Math.floor(x / 2);
const lsb = (x: number): boolean => x % 2 === 1;

/** RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `root`? */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
  c: ChainCrypto = pureCrypto,
): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || !allHashes(proof)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r, c);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 §2.1.4.2: is the tree (size m, oldRoot) a prefix of (size n, newRoot)?
 * Edge cases as transparency-dev/merkle and sigsum: m = n needs an empty proof and equal roots;
 * m = 0 needs an empty proof and oldRoot = the empty-tree root.
 */
export function verifyConsistency(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
  c: ChainCrypto = pureCrypto,
): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (oldRoot.length !== HASH_SIZE || newRoot.length !== HASH_SIZE || !allHashes(proof)) return false;
  if (m === n) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (m === 0) return proof.length === 0 && bytesEqual(oldRoot, emptyRoot(c));
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(m) ? [oldRoot, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (lsb(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const p = path[i]!;
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(p, fr, c);
      sr = nodeHash(p, sr, c);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, p, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

// ---------------------------------------------------------------------------------------------
// Slow reference implementation, straight from the RFC 9162 definitions (for property tests only).

/** MTH(D[n]) by the recursive definition. */
export function referenceRoot(leaves: readonly Uint8Array[], c: ChainCrypto = pureCrypto): Uint8Array {
  const n = leaves.length;
  if (n === 0) return emptyRoot(c);
  if (n === 1) return leaves[0]!.slice();
  const k = splitPoint(n);
  return nodeHash(referenceRoot(leaves.slice(0, k), c), referenceRoot(leaves.slice(k), c), c);
}

/** PATH(m, D[n]) by the recursive definition. */
export function referenceInclusion(m: number, leaves: readonly Uint8Array[], c: ChainCrypto = pureCrypto): Uint8Array[] {
  const n = leaves.length;
  if (m < 0 || m >= n) throw new MerkleRangeError('index out of range');
  if (n === 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...referenceInclusion(m, leaves.slice(0, k), c), referenceRoot(leaves.slice(k), c)];
  return [...referenceInclusion(m - k, leaves.slice(k), c), referenceRoot(leaves.slice(0, k), c)];
}

/** PROOF(m, D[n]) by the recursive definition (empty for m = 0 or m = n). */
export function referenceConsistency(m: number, leaves: readonly Uint8Array[], c: ChainCrypto = pureCrypto): Uint8Array[] {
  const n = leaves.length;
  if (m < 0 || m > n) throw new MerkleRangeError('size out of range');
  if (m === 0 || m === n) return [];
  const sub = (mm: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] => {
    if (mm === d.length) return b ? [] : [referenceRoot(d, c)];
    const k = splitPoint(d.length);
    if (mm <= k) return [...sub(mm, d.slice(0, k), b), referenceRoot(d.slice(k), c)];
    return [...sub(mm - k, d.slice(k), false), referenceRoot(d.slice(0, k), c)];
  };
  return sub(m, leaves, true);
}
