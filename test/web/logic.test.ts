// The page's pure logic under node: bounded trace rows, the checkpoint memory that flags forks and
// rollbacks (with the real Merkle code), the scatter geometry, and formatting.
import { describe, expect, it } from 'vitest';
import { formatCheckpointBody, noteVerifierKey, signNote } from '../../src/chain/checkpoint.js';
import { createPureSigner, pureCrypto } from '../../src/chain/crypto.js';
import { toBase64, toHex0x } from '../../src/chain/encoding.js';
import { MerkleTree } from '../../src/chain/merkle.js';
import { deriveEntryKeyId } from '../../src/chain/sign.js';
import type { PublicKeyInfo } from '../../src/chain/types.js';
import { CheckpointMemory, STORAGE_PREFIX, isAlarm, type StorageLike } from '../../src/web/client/checkpoint-memory.js';
import { whyWinner, type DecisionData } from '../../src/web/client/decisions-view.js';
import { clockTime, shortHash, target, usdFromMicros, usdString } from '../../src/web/client/format.js';
import { MAX_R, MIN_R, layoutScatter } from '../../src/web/client/scatter-layout.js';
import { TraceBuffer, type TraceRow } from '../../src/web/client/trace-buffer.js';
import { verifyCheckpointNote, verifyConsistencyNotes } from '../../src/web/client/verifier.js';

const row = (seq: number): TraceRow => ({ seq, time: '2026-11-24T13:12:10.123Z', hash: `0x${seq.toString(16).padStart(64, '0')}`, agent: 'a', kind: 'routed', model: null, provider: null, keyId: 'k' });
const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => row(from + i));

describe('TraceBuffer', () => {
  it('keeps the newest max rows, newest first', () => {
    const b = new TraceBuffer(5);
    b.push(rows(0, 3));
    b.push(rows(3, 9));
    expect(b.view().map((r) => r.seq)).toEqual([8, 7, 6, 5, 4]);
    expect(b.size).toBe(5);
    expect(b.lastSeq).toBe(8);
  });

  it('ignores duplicates and stale rows (a replay overlapping what was seen)', () => {
    const b = new TraceBuffer(10);
    expect(b.push(rows(0, 4))).toBe(4);
    expect(b.push(rows(2, 6))).toBe(2);
    expect(b.view().map((r) => r.seq)).toEqual([5, 4, 3, 2, 1, 0]);
  });

  it('stays bounded over a long run and counts additions for incremental rendering', () => {
    const b = new TraceBuffer(100);
    for (let i = 0; i < 100_000; i += 50) b.push(rows(i, i + 50));
    expect(b.size).toBe(100);
    expect(b.view()[0]!.seq).toBe(99_999);
    expect(b.takeAdded()).toBe(100);
    b.push([row(100_000)]);
    expect(b.takeAdded()).toBe(1);
    expect(b.find(99_950)?.seq).toBe(99_950);
    expect(b.find(5)).toBeUndefined();
  });

  it('rejects a non-positive bound', () => {
    expect(() => new TraceBuffer(0)).toThrow(RangeError);
  });
});

function memStorage(): StorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

function leaves(n: number, salt = ''): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => pureCrypto.sha256(new TextEncoder().encode(`leaf ${i}${salt}`)));
}

describe('CheckpointMemory', () => {
  const origin = 'test.local/chain';
  const honest = MerkleTree.from(leaves(40));
  // Real signed notes and published keys: the memory is wired to ChainVerifier exactly as on the page.
  const signer = createPureSigner(new Uint8Array(32).fill(7));
  const keys: PublicKeyInfo[] = [
    {
      keyId: deriveEntryKeyId(signer.publicKey),
      algorithm: 'ed25519',
      publicKey: toBase64(signer.publicKey),
      noteKey: noteVerifierKey(origin, signer.publicKey),
      validFrom: '2020-01-01T00:00:00.000Z',
      validUntil: null,
    },
  ];
  const cpOf = (t: MerkleTree, size: number) =>
    verifyCheckpointNote(signNote(formatCheckpointBody({ origin, size, rootHash: t.rootAt(size), time: '2026-11-24T13:00:00.000Z' }), origin, signer), keys);
  const verifyConsistency = (older: Parameters<typeof verifyConsistencyNotes>[1], newer: Parameters<typeof verifyConsistencyNotes>[2], proof: string[]) =>
    verifyConsistencyNotes(keys, older, newer, proof);

  function memory(tree: MerkleTree, storage = memStorage()) {
    let fetched = 0;
    const m = new CheckpointMemory({
      storage,
      fetchConsistency: async (from, to) => {
        fetched++;
        return tree.consistencyProof(from, to).map(toHex0x);
      },
      verifyConsistency,
    });
    return { m, storage, fetched: () => fetched };
  }

  it('trusts the first checkpoint, then accepts only provable extensions and remembers the largest', async () => {
    const { m, storage, fetched } = memory(honest);
    expect((await m.observe(cpOf(honest, 7), { latest: true })).status).toBe('first');
    expect((await m.observe(cpOf(honest, 7), { latest: true })).status).toBe('same');
    const ext = await m.observe(cpOf(honest, 23), { latest: true });
    expect(ext.status).toBe('extended');
    expect(fetched()).toBe(1);
    expect(m.trusted(origin)?.size).toBe(23);
    expect(JSON.parse(storage.map.get(STORAGE_PREFIX + origin)!).size).toBe(23);
    // An older checkpoint (e.g. the one an entry's proof was against) is fine when it is a prefix.
    expect((await m.observe(cpOf(honest, 10), { latest: false })).status).toBe('older');
    expect(m.trusted(origin)?.size).toBe(23);
  });

  it('survives a reload: a new memory on the same storage still knows the largest checkpoint', async () => {
    const storage = memStorage();
    await memory(honest, storage).m.observe(cpOf(honest, 30), { latest: true });
    const again = memory(honest, storage).m;
    expect(again.trusted(origin)?.size).toBe(30);
    expect((await again.observe(cpOf(honest, 30), { latest: true })).status).toBe('same');
  });

  it('flags a fork: same size, different root', async () => {
    const forked = MerkleTree.from([...leaves(20), ...leaves(20, 'evil')]);
    const { m } = memory(honest);
    await m.observe(cpOf(honest, 30), { latest: true });
    const o = await m.observe(cpOf(forked, 30), { latest: true });
    expect(o.status).toBe('fork');
    expect(isAlarm(o)).toBe(true);
    expect(m.trusted(origin)?.rootHash).toBe(toHex0x(honest.rootAt(30)));
  });

  it('flags a fork when a larger checkpoint is not an extension (the proof cannot match both roots)', async () => {
    const forked = MerkleTree.from([...leaves(20), ...leaves(20, 'evil')]);
    // The server serves proofs from its forked tree; the browser still holds the honest root of 25.
    const storage = memStorage();
    const seeded = memory(honest, storage).m;
    await seeded.observe(cpOf(honest, 25), { latest: true });
    const { m: m2 } = memory(forked, storage);
    const o = await m2.observe(cpOf(forked, 40), { latest: true });
    expect(o.status).toBe('fork');
    expect(m2.trusted(origin)?.size).toBe(25);
  });

  it('flags a rollback: the latest checkpoint is smaller than one verified before', async () => {
    const { m } = memory(honest);
    await m.observe(cpOf(honest, 35), { latest: true });
    const o = await m.observe(cpOf(honest, 12), { latest: true });
    expect(o.status).toBe('rollback');
    expect(isAlarm(o)).toBe(true);
  });

  it('reports (without alarm) when no consistency proof can be fetched', async () => {
    const storage = memStorage();
    const m = new CheckpointMemory({
      storage,
      fetchConsistency: () => Promise.reject(new Error('offline')),
      verifyConsistency,
    });
    await m.observe(cpOf(honest, 5), { latest: true });
    const o = await m.observe(cpOf(honest, 9), { latest: true });
    expect(o.status).toBe('unchecked');
    expect(m.trusted(origin)?.size).toBe(5);
  });

  it('refuses a checkpoint note that is not signed by a published key', () => {
    const stranger = createPureSigner(new Uint8Array(32).fill(9));
    const note = signNote(formatCheckpointBody({ origin, size: 3, rootHash: honest.rootAt(3) }), origin, stranger);
    expect(() => verifyCheckpointNote(note, keys)).toThrow(/checkpoint_signature/);
  });

  it('forgets a corrupt stored record instead of trusting it', async () => {
    const storage = memStorage();
    storage.map.set(STORAGE_PREFIX + origin, '{"origin":"test.local/chain","size":"x"}');
    const { m } = memory(honest, storage);
    expect(m.trusted(origin)).toBeNull();
    expect((await m.observe(cpOf(honest, 3), { latest: true })).status).toBe('first');
  });
});

describe('layoutScatter', () => {
  const models = [
    { id: 'a', intelligenceIndex: 51, referenceSpeed: 181, liveSpeed: null, state: 'closed' as const, traffic: 0 },
    { id: 'b', intelligenceIndex: 20, referenceSpeed: 30, liveSpeed: 45, state: 'open' as const, traffic: 100 },
    { id: 'c', intelligenceIndex: 40, referenceSpeed: 250, liveSpeed: 200, state: 'half_open' as const, traffic: 25 },
  ];

  it('places one point per model inside the plot, higher index higher up, faster further right', () => {
    const L = layoutScatter(models);
    expect(L.points).toHaveLength(3);
    for (const p of L.points) {
      expect(p.cx).toBeGreaterThanOrEqual(L.plot.left);
      expect(p.cx).toBeLessThanOrEqual(L.plot.right);
      expect(p.cy).toBeGreaterThanOrEqual(L.plot.top);
      expect(p.cy).toBeLessThanOrEqual(L.plot.bottom);
    }
    const [a, b, c] = L.points;
    expect(a!.cy).toBeLessThan(c!.cy);
    expect(c!.cy).toBeLessThan(b!.cy);
    expect(b!.cx).toBeLessThan(a!.cx);
  });

  it('shows live speed when measured, with the reference position kept; reference-only otherwise', () => {
    const [a, b] = layoutScatter(models).points;
    expect(a!.referenceOnly).toBe(true);
    expect(a!.refX).toBeNull();
    expect(b!.referenceOnly).toBe(false);
    expect(b!.refX).not.toBeNull();
    expect(b!.refX!).toBeLessThan(b!.cx);
  });

  it('sizes by traffic between the bounds', () => {
    const [a, b, c] = layoutScatter(models).points;
    expect(a!.r).toBe(MIN_R);
    expect(b!.r).toBe(MAX_R);
    expect(c!.r).toBeGreaterThan(MIN_R);
    expect(c!.r).toBeLessThan(MAX_R);
  });

  it('copes with no models', () => {
    const L = layoutScatter([]);
    expect(L.points).toEqual([]);
    expect(L.xTicks.length).toBeGreaterThan(0);
  });
});

describe('format', () => {
  it('formats hashes, times, money and targets', () => {
    expect(shortHash(`0xabcdef0123${'0'.repeat(54)}`)).toBe('abcdef01');
    expect(clockTime('2026-11-24T13:12:10.123Z')).toBe('13:12:10.123');
    expect(usdFromMicros(1250)).toBe('$0.00125');
    expect(usdFromMicros(2_500_000)).toBe('$2.50');
    expect(usdFromMicros(0)).toBe('$0.00');
    expect(usdString('0.001250')).toBe('$0.00125');
    expect(usdString('12.000000')).toBe('$12.00');
    expect(usdString(null)).toBe('–');
    expect(target('glm-5', 'novita')).toBe('glm-5 / novita');
    expect(target(undefined, 'novita')).toBe('novita');
  });
});

describe('whyWinner', () => {
  const cand = (model: string, rank: number, eligible = true, refusals: { kind: string; message: string }[] = []) => ({
    model,
    provider: 'sim',
    eligible,
    rank,
    explored: false,
    finishProbability: 0.9,
    expectedCost: { usd: '0.000100' },
    predictedLatencyMs: 800,
    refusals,
  });
  const base: DecisionData = {
    id: 'd1',
    createdAt: '2026-11-24T13:12:10.123Z',
    taskType: 'chat',
    model: 'm1',
    provider: 'sim',
    outcome: 'COMPLETED',
    cost: { usd: '0.000090' },
    latencyMs: 700,
    candidates: [cand('m1', 1), cand('m2', 2), cand('m3', 0, false, [{ kind: 'BELOW_BAR', message: 'below the bar' }])],
    attempts: [{ n: 1, model: 'm1', provider: 'sim', ok: true, errorClass: null }],
  };

  it('explains the rank-1 pick and the refusals', () => {
    const why = whyWinner(base);
    expect(why).toContain('m1 / sim ranked first of 2 eligible');
    expect(why).toContain('1 refused (1 below bar)');
  });

  it('explains a fallback', () => {
    const why = whyWinner({ ...base, model: 'm2', attempts: [{ n: 1, model: 'm1', provider: 'sim', ok: false, errorClass: 'rate_limited' }, { n: 2, model: 'm2', provider: 'sim', ok: true, errorClass: null }] });
    expect(why).toContain('failed (rate_limited)');
    expect(why).toContain('rank 2 m2 / sim answered');
  });
});

describe('layoutScatter on a narrow chart', () => {
  it('keeps x labels at least ~40 px apart', () => {
    const wide = [
      { id: 'slow', intelligenceIndex: 10, referenceSpeed: 20, liveSpeed: null, state: 'closed' as const, traffic: 0 },
      { id: 'fast', intelligenceIndex: 50, referenceSpeed: 12_000, liveSpeed: null, state: 'closed' as const, traffic: 0 },
    ];
    const L = layoutScatter(wide, 320, 300);
    expect(L.xTicks.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < L.xTicks.length; i++) expect(L.xTicks[i]!.pos - L.xTicks[i - 1]!.pos).toBeGreaterThanOrEqual(40);
  });
});
