// The server's proof service: inclusion proofs (an entry in a checkpoint) and consistency proofs
// (between two checkpoint sizes), RFC 9162 §2.1.3-2.1.4, from a Merkle tree kept in step with the store.
// The tree (PagedMerkleTree, merkle-pages.ts) holds only the hashes at and above page level (~0.25 byte
// per entry at 256 leaves a page) and reads one page of leaf hashes from the store for the levels below,
// so a long-running server's memory does not grow by ~64 bytes per entry. The tree is rebuilt from the
// stored leaf hashes on start, then grows from this process's appender (or, for a process that does not
// append, the store's live feed); entries other processes append are read from the store when a local
// batch lands after them or a proof asks for a size the tree does not have yet.
import type { ChainStore, EntryWatch } from '../store/port.js';
import { PagedMerkleTree, type PagedMerkleTreeOptions } from './merkle-pages.js';
import { EncodingError, fromHex0x, isHex0x, toHex0x } from './encoding.js';
import { HASH_SIZE } from './hash.js';
import { nodeCrypto } from './node-crypto.js';
import { logger } from '../log.js';

/** JSON shape of GET /v1/audit/public/SEQ's `proof`. */
export interface InclusionProofJson {
  leafIndex: number;
  treeSize: number;
  hashes: string[];
}

/** JSON shape of GET /v1/audit/consistency. */
export interface ConsistencyProofJson {
  from: number;
  to: number;
  hashes: string[];
}

/** The store has fewer entries than the requested tree size. */
export class ProofRangeError extends RangeError {
  override readonly name = 'ProofRangeError';
}

const PAGE = 50_000;

/**
 * `0x` hex leaf hashes -> one buffer of 32-byte hashes. One native decode of the joined hex: decoding
 * each hash in JS was ~200 µs of a proof's ~800 µs for a 256-leaf page.
 */
function decodeHashes(hashes: readonly string[]): Uint8Array {
  for (const h of hashes) if (!isHex0x(h, HASH_SIZE)) throw new EncodingError(`leaf hash: expected 0x and 64 lowercase hex digits, got ${JSON.stringify(String(h).slice(0, 80))}`);
  const buf = Buffer.from(hashes.map((h) => h.slice(2)).join(''), 'hex');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export class ProofService {
  private readonly tree: PagedMerkleTree;
  private watcher: EntryWatch | null = null;
  private closed = false;
  /** One background catch-up at a time; its target only grows (busy writers must not stack reads). */
  private catchUpTo = 0;
  private catchingUp: Promise<void> | null = null;

  private constructor(
    private readonly chain: ChainStore,
    opts: PagedMerkleTreeOptions,
  ) {
    this.tree = new PagedMerkleTree(async (from, to) => decodeHashes(await chain.leafHashes(from, to)), nodeCrypto, opts);
  }

  /**
   * Rebuild the tree from the store, then follow new entries. With `follow` (this process's appender:
   * `(cb) => appender.onAppended(cb)`), the tree grows from the hashes the appender already has, instead
   * of reading every entry it just wrote back from the store (a store watch re-reads whole rows: ~75 µs
   * of the main thread per routed call at saturation). Entries other processes append are read as leaf
   * hashes only when needed: when a local batch lands after them (a gap) or a proof asks for a size the
   * tree does not have yet. Without `follow`, the store's live feed is watched (a process that does not
   * append, e.g. a read-only verifier). `pageBits` / `cachePages` tune the tree (PagedMerkleTreeOptions;
   * defaults suit the server).
   */
  static async open(
    chain: ChainStore,
    opts: { follow?: (onEntries: (entries: readonly { seq: number; hash: string }[]) => void) => () => void } & PagedMerkleTreeOptions = {},
  ): Promise<ProofService> {
    const svc = new ProofService(chain, { pageBits: opts.pageBits, cachePages: opts.cachePages });
    const head = await chain.head();
    await svc.ensureSize(head ? head.seq + 1 : 0);
    if (opts.follow) {
      const stop = opts.follow((entries) => svc.onEntries(entries));
      svc.watcher = { close: stop };
    } else {
      svc.watcher = chain.watch(
        svc.tree.size,
        (entries) => svc.onEntries(entries),
        (err) => logger.warn({ err }, 'proof service feed error'),
      );
    }
    return svc;
  }

  /** Leaves in the tree. */
  get size(): number {
    return this.tree.size;
  }

  /** Hashes held in memory (for the memory-bound test and capacity planning): see PagedMerkleTree. */
  get heldHashes(): { tree: number; cache: number } {
    return this.tree.heldHashes;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
  }

  /** Inclusion proof of leaf `seq` in the tree of the first `treeSize` leaves. */
  async inclusion(seq: number, treeSize: number): Promise<InclusionProofJson> {
    if (!(seq >= 0 && seq < treeSize)) throw new ProofRangeError(`seq ${seq} is not inside a tree of size ${treeSize}`);
    await this.ensureSize(treeSize);
    return { leafIndex: seq, treeSize, hashes: (await this.tree.inclusionProof(seq, treeSize)).map(toHex0x) };
  }

  /** Consistency proof from the tree of size `from` to the tree of size `to`. */
  async consistency(from: number, to: number): Promise<ConsistencyProofJson> {
    if (!(from >= 0 && from <= to)) throw new ProofRangeError(`no consistency proof from ${from} to ${to}`);
    await this.ensureSize(to);
    const hashes = from === 0 || from === to ? [] : (await this.tree.consistencyProof(from, to)).map(toHex0x);
    return { from, to, hashes };
  }

  /** Root hash (`0x`…) of the first `size` leaves. */
  async rootAt(size: number): Promise<string> {
    await this.ensureSize(size);
    return toHex0x(await this.tree.rootAt(size));
  }

  private onEntries(entries: readonly { seq: number; hash: string }[]): void {
    if (this.closed || entries.length === 0) return;
    for (const e of entries) {
      if (e.seq < this.tree.size) continue; // already read directly by ensureSize
      if (e.seq > this.tree.size) {
        // Entries before these came from elsewhere (another process, or a store feed that skipped):
        // read the missing leaves, through the end of this batch (it is durable), rather than build a
        // wrong tree.
        this.catchUp(entries[entries.length - 1]!.seq + 1);
        return;
      }
      this.tree.append(fromHex0x(e.hash));
    }
  }

  /** Read missing leaves up to `size` in the background, merging requests into one running read. */
  private catchUp(size: number): void {
    this.catchUpTo = Math.max(this.catchUpTo, size);
    if (this.catchingUp) return;
    this.catchingUp = (async () => {
      try {
        while (!this.closed && this.tree.size < this.catchUpTo) await this.ensureSize(this.catchUpTo);
      } catch (err) {
        logger.warn({ err }, 'proof service catch-up failed');
      } finally {
        this.catchingUp = null;
      }
    })();
  }

  /** Make sure the tree holds at least `size` leaves, reading missing ones from the store. */
  private async ensureSize(size: number): Promise<void> {
    while (this.tree.size < size) {
      const from = this.tree.size;
      const to = Math.min(size, from + PAGE);
      const page = await this.chain.leafHashes(from, to);
      // The feed may have appended some of these while we waited.
      for (let i = this.tree.size - from; i < page.length; i++) this.tree.append(fromHex0x(page[i]!));
      if (page.length < to - from && this.tree.size < to) {
        throw new ProofRangeError(`the chain has ${this.tree.size} entries, fewer than ${size}`);
      }
    }
  }
}
