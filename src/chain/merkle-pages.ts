// An RFC 9162 Merkle tree for the server's proof service that does not keep every leaf in memory.
//
// The leaves are cut into pages of P = 2^pageBits (aligned, 256 by default). In memory it keeps only
// the roots of complete pages and every complete subtree above them (levels pageBits and up: ~2 hashes
// per page, 0.25 byte per leaf at P = 256), plus the leaves of the last, incomplete page (< P hashes).
// Anything below page level is computed from one page's leaf hashes, read from the store in one range
// read of at most P hashes (a few recently used pages are kept, built, in a small LRU).
//
// Why this is enough: every node the RFC 9162 recursion visits, [start, start + n), starts at a
// multiple of the smallest power of two >= n, so a node of at most P leaves lies inside one page. An
// inclusion proof touches the leaf's page and the page holding the tree's right edge; a consistency
// proof the page at the old size's boundary and the right edge page. Proofs are computed by the same
// recursion as MerkleTree (merkle.ts), over the same node hashes, so they are byte-identical.
import type { ChainCrypto } from './crypto.js';
import { HASH_SIZE, emptyRoot, nodeHash } from './hash.js';
import { MerkleRangeError, consistencyPath, inclusionPath, splitPoint } from './merkle.js';

/**
 * Reads leaf hashes [from, to) (the store's leafHashes, decoded) as one buffer of 32-byte hashes,
 * concatenated in seq order; fewer than asked if the store has fewer.
 */
export type LeafReader = (from: number, to: number) => Promise<Uint8Array>;

/** The leaves read back from the store do not hash to the page root held in memory. */
export class PageMismatchError extends Error {
  override readonly name = 'PageMismatchError';
}


function isAlignedPow2(start: number, n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0 && start % n === 0;
}

const CHUNK = 4096; // hashes per chunk: 128 KiB

/** Append-only chunked array of 32-byte hashes (no per-hash object, no large copies on growth). */
class Hashes {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(h: Uint8Array): void {
    const within = this.length % CHUNK;
    let chunk = this.chunks[(this.length - within) / CHUNK];
    if (!chunk) {
      // The first chunk grows by doubling: the upper levels of a large tree hold few hashes each, and a
      // full chunk per level would cost more than the hashes (12 levels at 1M entries).
      chunk = new Uint8Array((this.chunks.length === 0 ? 8 : CHUNK) * HASH_SIZE);
      this.chunks.push(chunk);
    } else if ((within + 1) * HASH_SIZE > chunk.length) {
      const bigger = new Uint8Array(Math.min(chunk.length * 2, CHUNK * HASH_SIZE));
      bigger.set(chunk);
      chunk = bigger;
      this.chunks[this.chunks.length - 1] = chunk;
    }
    chunk.set(h.subarray(0, HASH_SIZE), within * HASH_SIZE);
    this.length++;
  }

  get(i: number): Uint8Array {
    const within = i % CHUNK;
    return this.chunks[(i - within) / CHUNK]!.subarray(within * HASH_SIZE, (within + 1) * HASH_SIZE);
  }
}

/**
 * Every complete subtree of one page's first `count` leaves (level 0 = the leaves), in flat buffers:
 * at most 2P - 1 hashes. Answers any node the RFC recursion visits that ends at or before `count`.
 */
class PageTree {
  private readonly levels: Uint8Array[];

  constructor(
    readonly count: number,
    leaves: Uint8Array,
    private readonly c: ChainCrypto,
  ) {
    this.levels = [leaves];
    for (let n = count; n >= 2; n = Math.floor(n / 2)) {
      const below = this.levels[this.levels.length - 1]!;
      const pairs = Math.floor(n / 2);
      const up = new Uint8Array(pairs * HASH_SIZE);
      for (let i = 0; i < pairs; i++) {
        up.set(nodeHash(below.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE), below.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE), c), i * HASH_SIZE);
      }
      this.levels.push(up);
    }
  }

  /** Hashes held. */
  get hashCount(): number {
    let n = 0;
    for (const l of this.levels) n += l.length / HASH_SIZE;
    return n;
  }

  /** MTH of leaves [a, b) of this page (page-relative; a node the RFC recursion visits, b <= count). */
  node(a: number, b: number): Uint8Array {
    const n = b - a;
    if (isAlignedPow2(a, n)) {
      const level = Math.log2(n);
      const i = a / n;
      return this.levels[level]!.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    }
    const k = splitPoint(n);
    return nodeHash(this.node(a, a + k), this.node(a + k, b), this.c);
  }
}

export interface PagedMerkleTreeOptions {
  /** log2 of the page size (leaves per page). Default 8 (256). */
  pageBits?: number;
  /** Built pages kept for later proofs. Default 32 (each at most 2P - 1 hashes). */
  cachePages?: number;
}

export class PagedMerkleTree {
  readonly pageBits: number;
  readonly pageSize: number;
  private readonly cachePages: number;
  /** upper[j][i]: MTH of leaves [i·P·2^j, (i+1)·P·2^j). upper[0] holds the page roots. */
  private readonly upper: Hashes[] = [new Hashes()];
  /** Leaves of the incomplete last page. */
  private tail: Uint8Array;
  private tailCount = 0;
  /** Page index -> built page, most recently used last (Map keeps insertion order). */
  private readonly cache = new Map<number, PageTree>();

  constructor(
    private readonly readLeaves: LeafReader,
    private readonly c: ChainCrypto,
    opts: PagedMerkleTreeOptions = {},
  ) {
    const bits = opts.pageBits ?? 8;
    if (!(Number.isInteger(bits) && bits >= 1 && bits <= 20)) throw new RangeError(`pageBits must be an integer from 1 to 20, got ${bits}`);
    const cachePages = opts.cachePages ?? 32;
    if (!(Number.isInteger(cachePages) && cachePages >= 0)) throw new RangeError(`cachePages must be a non-negative integer, got ${cachePages}`);
    this.pageBits = bits;
    this.pageSize = 2 ** bits;
    this.cachePages = cachePages;
    this.tail = new Uint8Array(this.pageSize * HASH_SIZE);
  }

  get size(): number {
    return this.upper[0]!.length * this.pageSize + this.tailCount;
  }

  /** Hashes held in memory: the tree's own (upper levels and the last page's leaves) and the page cache. */
  get heldHashes(): { tree: number; cache: number } {
    let tree = this.tailCount;
    for (const l of this.upper) tree += l.length;
    let cache = 0;
    for (const p of this.cache.values()) cache += p.hashCount;
    return { tree, cache };
  }

  append(leaf: Uint8Array): void {
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_SIZE) throw new TypeError('leaf hash must be 32 bytes');
    this.tail.set(leaf, this.tailCount * HASH_SIZE);
    this.tailCount++;
    if (this.tailCount < this.pageSize) return;
    // The page is complete: keep its root (and, as it is the likeliest to be asked next, its built tree).
    const pageIndex = this.upper[0]!.length;
    const page = new PageTree(this.pageSize, this.tail, this.c);
    this.tail = new Uint8Array(this.pageSize * HASH_SIZE);
    this.tailCount = 0;
    this.remember(pageIndex, page);
    let h: Uint8Array = page.node(0, this.pageSize).slice();
    let level = 0;
    let i = pageIndex;
    this.upper[0]!.push(h);
    // Each time i is a right child, its pair just became complete: store the parent one level up.
    while (i % 2 === 1) {
      h = nodeHash(this.upper[level]!.get(i - 1), h, this.c);
      level++;
      i = (i - 1) / 2;
      if (!this.upper[level]) this.upper.push(new Hashes());
      this.upper[level]!.push(h);
    }
  }

  async rootAt(size: number): Promise<Uint8Array> {
    this.checkSize(size);
    if (size === 0) return emptyRoot(this.c);
    return (await this.compute((node) => [node(0, size)]))[0]!;
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf-to-root order (as MerkleTree.inclusionProof). */
  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    this.checkSize(size);
    if (!(Number.isSafeInteger(index) && index >= 0 && index < size)) throw new MerkleRangeError(`leaf index ${index} out of range for tree size ${size}`);
    return this.compute((node) => inclusionPath(index, size, node));
  }

  /** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]); empty for m = 0 or m = n (as MerkleTree.consistencyProof). */
  async consistencyProof(m: number, n: number): Promise<Uint8Array[]> {
    this.checkSize(n);
    if (!(Number.isSafeInteger(m) && m >= 0 && m <= n)) throw new MerkleRangeError(`old size ${m} must be between 0 and ${n}`);
    if (m === 0 || m === n) return [];
    return this.compute((node) => consistencyPath(m, n, node));
  }

  private checkSize(size: number): void {
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= this.size)) throw new MerkleRangeError(`size ${size} out of range (size ${this.size})`);
  }

  /**
   * Run a proof recursion twice: first to learn which pages its nodes below page level need (node
   * positions never depend on hash values, so placeholders do), then, with those pages loaded and
   * pinned for this call, for real. Returns copies.
   */
  private async compute(proof: (node: (start: number, end: number) => Uint8Array) => Uint8Array[]): Promise<Uint8Array[]> {
    const pinned = new Map<number, PageTree>();
    const wanted = new Map<number, number>(); // page -> leaves it must cover
    const placeholder = new Uint8Array(HASH_SIZE);
    proof((start, end) => this.node(start, end, pinned, (page, count) => {
      wanted.set(page, Math.max(wanted.get(page) ?? 0, count));
      return placeholder;
    }));
    await Promise.all([...wanted].map(async ([page, count]) => pinned.set(page, await this.loadPage(page, count))));
    return proof((start, end) =>
      this.node(start, end, pinned, () => {
        throw new Error('proof needed a page it did not ask for'); // unreachable: the first pass asked
      }),
    ).map((h) => h.slice());
  }

  /** MTH(D[start:end]) for a node the RFC recursion visits. */
  private node(start: number, end: number, pinned: Map<number, PageTree>, miss: (page: number, count: number) => Uint8Array): Uint8Array {
    const n = end - start;
    const P = this.pageSize;
    if (n >= P && isAlignedPow2(start, n)) {
      const level = Math.log2(n) - this.pageBits;
      return this.upper[level]!.get(start / n);
    }
    if (n <= P) {
      // Inside one page (see the header).
      const page = Math.floor(start / P);
      const base = page * P;
      const built = pinned.get(page);
      if (!built || built.count < end - base) return miss(page, end - base);
      return built.node(start - base, end - base);
    }
    const k = splitPoint(n);
    return nodeHash(this.node(start, start + k, pinned, miss), this.node(start + k, end, pinned, miss), this.c);
  }

  /** Page `page` built over at least its first `count` leaves: from the cache, the tail, or one store read. */
  private async loadPage(page: number, count: number): Promise<PageTree> {
    const cached = this.cache.get(page);
    if (cached && cached.count >= count) {
      this.cache.delete(page);
      this.cache.set(page, cached);
      return cached;
    }
    const P = this.pageSize;
    const complete = this.upper[0]!.length;
    if (page === complete) {
      // The incomplete last page: its leaves are in memory (copied: the tail is reused as it grows).
      const built = new PageTree(this.tailCount, this.tail.slice(0, this.tailCount * HASH_SIZE), this.c);
      this.remember(page, built);
      return built;
    }
    const flat = await this.readLeaves(page * P, page * P + P);
    if (flat.length !== P * HASH_SIZE) throw new PageMismatchError(`the store returned ${flat.length / HASH_SIZE} leaf hashes for page ${page}, expected ${P}`);
    const built = new PageTree(P, flat, this.c);
    const root = this.upper[0]!.get(page);
    const got = built.node(0, P);
    for (let i = 0; i < HASH_SIZE; i++) {
      if (root[i] !== got[i]) throw new PageMismatchError(`leaf hashes read for page ${page} (seq ${page * P}..${page * P + P - 1}) do not match the tree: the store changed under the proof service`);
    }
    this.remember(page, built);
    return built;
  }

  private remember(page: number, built: PageTree): void {
    if (this.cachePages === 0) return;
    this.cache.delete(page);
    this.cache.set(page, built);
    while (this.cache.size > this.cachePages) this.cache.delete(this.cache.keys().next().value!);
  }
}
