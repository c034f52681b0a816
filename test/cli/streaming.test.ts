// `ainfera verify` / `ainfera export` on a chain with many checkpoints, in bounded memory: a real
// SQLite chain with 1000 checkpoints (cut explicitly every 1-2 entries), read through a source that
// records page sizes and how many checkpoints were read ahead of the entries that cover them. Without
// streaming every checkpoint is read before the first entry (1000 ahead); streamed, at most one page.
// The same chain presented dishonestly (a source that alters what it serves) still fails with the
// reasons the CLI always gave.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLines, storeSource, type ChainSource } from '../../src/chain/export.js';
import { ProofService } from '../../src/chain/proofs.js';
import { verifyLines, verifySource, type Verdict } from '../../src/cli/verify.js';
import type { StoredCheckpoint } from '../../src/store/port.js';
import { event, openChain, tempDir } from '../chain/appender.helpers.js';
import { corruptProof, recording, referenceExport, signedNote } from './streaming.helpers.js';

const CHECKPOINTS = 1000;
const PAGE = 32;
const EXPORTED_AT = '2026-11-24T12:00:00.000Z';

let tmp: ReturnType<typeof tempDir>;
let chain: Awaited<ReturnType<typeof openChain>>;
let source: ChainSource;
let proofs: ProofService;
let cps: StoredCheckpoint[];
let total: number;

beforeAll(async () => {
  tmp = tempDir('ainfera-cli-stream-');
  chain = await openChain(tmp.dir); // checkpointIntervalMs 0: only the cuts below
  let n = 0;
  for (let k = 0; k < CHECKPOINTS; k++) {
    await Promise.all(Array.from({ length: 1 + (k % 2) }, () => chain.appender.append(event(n++))));
    await chain.appender.checkpoint();
  }
  total = n;
  source = storeSource(chain.store.chain, chain.keys.origin, chain.keys.publicKeys(), 'test');
  proofs = await ProofService.open(chain.store.chain);
  cps = await chain.store.chain.checkpoints(0, CHECKPOINTS + 1);
  expect(cps).toHaveLength(CHECKPOINTS);
});

afterAll(async () => {
  proofs.close();
  await chain.close();
  tmp.cleanup();
});

const consistency = async (a: number, b: number) => (await proofs.consistency(a, b)).hashes;
/** The same source, with some of its methods replaced (a store or server that lies). */
const lying = (over: Partial<ChainSource>): ChainSource => ({ ...source, ...over });

async function collect(gen: AsyncGenerator<string, unknown>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of gen) out.push(line);
  return out;
}

describe('verify and export stream a long chain', () => {
  it('verifySource checks every entry, checkpoint and consistency proof holding at most a page of checkpoints', async () => {
    const rec = recording(source);
    const v = await verifySource(rec.source, { pageSize: PAGE, consistency });
    expect(v).toMatchObject({ ok: true, entries: total, checkpoints: CHECKPOINTS, consistencyProofs: CHECKPOINTS - 1, latestCheckpointSize: total });
    expect(rec.stats.checkpointsRead).toBe(CHECKPOINTS);
    expect(rec.stats.entriesRead).toBe(total);
    expect(rec.stats.maxAhead).toBeLessThanOrEqual(PAGE);
    expect(Math.max(rec.stats.maxEntryLimit, rec.stats.maxCheckpointLimit, rec.stats.maxEntryPage, rec.stats.maxCheckpointPage)).toBeLessThanOrEqual(PAGE);
  });

  it('exportLines writes exactly the documented file (checkpoints right after their last entry), a page at a time, for any page size', async () => {
    const reference = await referenceExport(chain.store.chain, chain.keys.origin, chain.keys, EXPORTED_AT, 'test');
    const rec = recording(source);
    const lines = await collect(exportLines(rec.source, { pageSize: PAGE, now: () => new Date(EXPORTED_AT) }));
    expect(lines).toEqual(reference);
    expect(rec.stats.maxAhead).toBeLessThanOrEqual(PAGE);
    expect(Math.max(rec.stats.maxEntryLimit, rec.stats.maxCheckpointLimit)).toBeLessThanOrEqual(PAGE);
    for (const pageSize of [1, 7, 1000]) {
      expect(await collect(exportLines(source, { pageSize, now: () => new Date(EXPORTED_AT) }))).toEqual(reference);
    }
  });

  it('verify --data-dir (the export piped into the file verifier) holds at most a page of checkpoints too', async () => {
    const rec = recording(source);
    expect(await verifyLines(exportLines(rec.source, { pageSize: PAGE }))).toMatchObject({ ok: true, entries: total, checkpoints: CHECKPOINTS, latestCheckpointSize: total });
    expect(rec.stats.maxAhead).toBeLessThanOrEqual(PAGE);
  });
});

describe('a dishonest source still fails with the same reasons', () => {
  const verify = (s: ChainSource, trusted?: string): Promise<Verdict> => verifySource(s, { pageSize: PAGE, consistency, ...(trusted !== undefined ? { trusted } : {}) });

  it('a tampered entry: hash_mismatch at its seq', async () => {
    const s = lying({
      entries: async (from, limit) =>
        (await source.entries(from, limit)).map((e) => (e.entry.seq === 777 ? { ...e, entry: { ...e.entry, costMicros: Number(e.entry.costMicros) + 1 } } : e)),
    });
    expect(await verify(s)).toMatchObject({ ok: false, reason: 'hash_mismatch', seq: 777 });
  });

  it('a deleted entry: seq_gap; entries withheld under a checkpoint: truncated', async () => {
    const gap = lying({ entries: async (from, limit) => (await source.entries(from, limit)).filter((e) => e.entry.seq !== 700) });
    expect(await verify(gap)).toMatchObject({ ok: false, reason: 'seq_gap', seq: 700 });
    const cut = lying({ entries: async (from, limit) => (await source.entries(from, limit)).filter((e) => e.entry.seq < 1001) });
    const next = cps.find((c) => c.size > 1001)!;
    expect(await verify(cut)).toMatchObject({ ok: false, reason: 'truncated', seq: 1001, checkpointSize: next.size });
  });

  it('a missing checkpoint index, a missing page of them, or a missing latest one: malformed_checkpoint naming the index', async () => {
    const without = (drop: (i: number) => boolean) => lying({ checkpoints: async (from, limit) => (await source.checkpoints(from, limit)).filter((c) => !drop(c.index)) });
    const one = await verify(without((i) => i === 500));
    expect(one).toMatchObject({ ok: false, reason: 'malformed_checkpoint', checkpointSize: cps[501]!.size, checkpoints: 500 });
    expect(one.ok || one.detail).toMatch(/checkpoint index 501 where 500 was expected/);
    const page = await verify(without((i) => i >= 2 * PAGE && i < 3 * PAGE)); // the reader's whole third page
    expect(page.ok || page.detail).toMatch(new RegExp(`checkpoint index ${3 * PAGE} where ${2 * PAGE} was expected`));
    const last = await verify(without((i) => i === CHECKPOINTS - 1));
    expect(last).toMatchObject({ ok: false, reason: 'malformed_checkpoint' });
    expect(last.ok || last.detail).toMatch(new RegExp(`checkpoint index ${CHECKPOINTS - 1} is missing`));
  });

  it('a forked checkpoint: inconsistent with the previous one (root_mismatch without proofs); an older one served again later: checkpoint_rollback', async () => {
    const forked = await signedNote(chain.store.chain, chain.keys, cps[600]!.size, new Uint8Array(32).fill(7));
    const fork = lying({ checkpoints: async (from, limit) => (await source.checkpoints(from, limit)).map((c) => (c.index === 600 ? { ...c, note: forked } : c)) });
    expect(await verify(fork)).toMatchObject({ ok: false, reason: 'inconsistent_checkpoint', checkpointSize: cps[600]!.size });
    expect(await verifySource(fork, { pageSize: PAGE })).toMatchObject({ ok: false, reason: 'root_mismatch', seq: cps[600]!.size - 1, checkpointSize: cps[600]!.size });
    const stale = lying({ checkpoints: async (from, limit) => (await source.checkpoints(from, limit)).map((c) => (c.index === 700 ? { ...cps[300]!, index: 700 } : c)) });
    expect(await verify(stale)).toMatchObject({ ok: false, reason: 'checkpoint_rollback', checkpointSize: cps[300]!.size });
  });

  it('a bad consistency proof: inconsistent_checkpoint at the later checkpoint', async () => {
    const [a, b] = [cps[400]!, cps[401]!];
    const v = await verifySource(source, { pageSize: PAGE, consistency: async (from, to) => (from === a.size && to === b.size ? corruptProof(await consistency(from, to)) : consistency(from, to)) });
    expect(v).toMatchObject({ ok: false, reason: 'inconsistent_checkpoint', checkpointSize: b.size, checkpoints: 401 });
  });

  it('a remembered checkpoint: extended is fine (also between checkpoints), a rolled-back view or another root at its size fails', async () => {
    const latest = cps.at(-1)!.note;
    expect(await verify(source, latest)).toMatchObject({ ok: true, latestCheckpointSize: total });
    // A size no checkpoint has: matched against the entries when the stream is exactly there.
    const k = cps.findIndex((c, i) => i > 0 && c.size - cps[i - 1]!.size >= 2);
    const mid = await signedNote(chain.store.chain, chain.keys, cps[k - 1]!.size + 1);
    expect(await verify(source, mid)).toMatchObject({ ok: true, entries: total, checkpoints: CHECKPOINTS, latestCheckpointSize: total });
    const midWrong = await signedNote(chain.store.chain, chain.keys, cps[k - 1]!.size + 1, new Uint8Array(32).fill(5));
    expect(await verify(source, midWrong)).toMatchObject({ ok: false, reason: 'root_mismatch', checkpointSize: cps[k - 1]!.size + 1 });
    // A consistent older view of the chain (a store or server rolled back to checkpoint 899).
    const old = cps[899]!;
    const olderStore = lying({
      head: async () => ({ checkpoint: { index: old.index, size: old.size }, entries: old.size }),
      entries: async (from, limit) => (await source.entries(from, limit)).filter((e) => e.entry.seq < old.size),
    });
    expect(await verify(olderStore)).toMatchObject({ ok: true, entries: old.size, checkpoints: 900 });
    expect(await verify(olderStore, latest)).toMatchObject({ ok: false, reason: 'checkpoint_rollback', checkpointSize: total });
    const olderServer = lying({ head: async () => ({ checkpoint: { index: old.index, size: old.size }, entries: null }), entries: olderStore.entries });
    expect(await verify(olderServer, latest)).toMatchObject({ ok: false, reason: 'checkpoint_rollback', checkpointSize: total });
    const forkedAt = await signedNote(chain.store.chain, chain.keys, cps[500]!.size, new Uint8Array(32).fill(3));
    expect(await verify(source, forkedAt)).toMatchObject({ ok: false, reason: 'inconsistent_checkpoint', checkpointSize: cps[500]!.size });
  });

  it('a file with checkpoints far ahead of their entries is refused once more than the cap wait (a cut or hand-made file)', async () => {
    const lines = await collect(exportLines(source, { pageSize: 1000 }));
    const isCp = (l: string) => l.startsWith('{"type":"checkpoint"');
    // The first n checkpoints moved before every entry: the verifier must hold them until their entries come.
    const early = (n: number) => {
      const moved = new Set(lines.filter(isCp).slice(0, n));
      return [lines[0]!, lines[1]!, ...moved, ...lines.slice(2).filter((l) => !moved.has(l))];
    };
    const file = early(CHECKPOINTS);
    expect(await verifyLines(file)).toMatchObject({ ok: true, entries: total, checkpoints: CHECKPOINTS });
    expect(await verifyLines(early(20), { maxCheckpointsAhead: 20 })).toMatchObject({ ok: true, entries: total, checkpoints: CHECKPOINTS });
    expect(await verifyLines(early(21), { maxCheckpointsAhead: 20 })).toMatchObject({ ok: false, reason: 'truncated', seq: 0, checkpointSize: cps[0]!.size });
  });
});
