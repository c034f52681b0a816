// Test helpers: real-looking chain entries (JCS-style canonical text, RFC 9162 leaf hashes, prev links).
import { createHash, randomBytes } from 'node:crypto';
import type { ChainHeadRef, Store, StoredEntry } from '../../src/store/port.js';

export const GENESIS = `0x${'0'.repeat(64)}`;

export function leafHash(canonical: string): string {
  return `0x${createHash('sha256').update(Buffer.from([0])).update(canonical, 'utf8').digest('hex')}`;
}

/** `n` consecutive entries after `after`, each linked to the previous by `prev`. */
export function makeEntries(after: ChainHeadRef | null, n: number, tag = 't', decision = `d-${tag}`): StoredEntry[] {
  const out: StoredEntry[] = [];
  let prev = after?.hash ?? GENESIS;
  let seq = after === null ? 0 : after.seq + 1;
  for (let i = 0; i < n; i++, seq++) {
    const time = new Date(Date.UTC(2026, 10, 24, 13, 0, 0, seq % 1000)).toISOString();
    // Keys in JCS order (sorted); a non-ASCII field checks that the exact bytes round-trip.
    const canonical = `{"agent":"agent-${tag}","decision":"${decision}","kind":"request","note":"\u00e9\u6f22\ud83d\ude00","prev":"${prev}","seq":${seq},"tag":"${tag}","time":"${time}","v":1}`;
    const hash = leafHash(canonical);
    out.push({ seq, hash, sig: randomBytes(64).toString('base64'), keyId: 'test-key', canonical, kind: 'request', agent: `agent-${tag}`, decision, time });
    prev = hash;
  }
  return out;
}

export function headOf(entries: readonly StoredEntry[], fallback: ChainHeadRef | null = null): ChainHeadRef | null {
  const last = entries[entries.length - 1];
  return last ? { seq: last.seq, hash: last.hash } : fallback;
}

/** Checks a chain read back from storage: seqs 0..n-1 without gaps, each prev is the previous hash. */
export function assertLinked(entries: readonly StoredEntry[]): void {
  let prev = GENESIS;
  entries.forEach((e, i) => {
    if (e.seq !== i) throw new Error(`gap: position ${i} holds seq ${e.seq}`);
    const parsed = JSON.parse(e.canonical) as { prev: string; seq: number };
    if (parsed.prev !== prev) throw new Error(`fork: seq ${e.seq} links to ${parsed.prev}, expected ${prev}`);
    if (parsed.seq !== e.seq) throw new Error(`seq ${e.seq} holds canonical seq ${parsed.seq}`);
    if (leafHash(e.canonical) !== e.hash) throw new Error(`seq ${e.seq}: hash does not match the stored bytes`);
    prev = e.hash;
  });
}

export async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Append `batches` batches (sizes 1..cycle, repeating) through `store`, re-reading the head whenever
 * another writer got there first, as a real sequencer does. Returns how many appends were refused.
 */
export async function appendBatchesWithRetry(
  store: Pick<Store, 'chain'>,
  tag: string,
  batches: number,
  cycle: number,
): Promise<{ written: number; refused: number }> {
  let head = await store.chain.head();
  let written = 0;
  let refused = 0;
  while (written < batches) {
    const batch = makeEntries(head, 1 + (written % cycle), `${tag}${written}`);
    const r = await store.chain.append(head, batch);
    if (r.ok) {
      head = headOf(batch);
      written++;
    } else {
      head = r.head;
      refused++;
    }
  }
  return { written, refused };
}
