// The one contract every Store adapter must meet. Each adapter's test file calls describeStoreContract
// with a factory for a fresh, empty backing (a temp data directory, a fresh database) on which it can
// open several Store instances, as several gateway instances would.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRecord, DecisionRecord, Store, StoredEntry } from '../../src/store/port.js';
import { StoreConflictError, StoreInputError, StoreNotFoundError } from '../../src/store/port.js';
import { appendBatchesWithRetry, assertLinked, headOf, makeEntries, sleep, until } from './helpers.js';

export interface StoreBacking {
  /** A new Store instance on this backing (same data directory / same database). */
  open(): Promise<Store>;
  /** Remove the backing storage (after every instance is closed). */
  dispose(): Promise<void>;
}

export type ContractCase =
  | 'concurrent appenders'
  | 'hold under concurrency'
  | 'hold settle race across instances'
  | 'settle race across instances'
  | 'watch across instances'
  | 'concurrent checkpoints';

export interface ContractOptions {
  /** Cases this backend cannot run, each with the reason (printed, and the test is marked skipped). */
  skip?: Partial<Record<ContractCase, string>>;
}

const MAX = Number.MAX_SAFE_INTEGER;

export function agent(id: string, balanceMicros = 0): AgentRecord {
  return { id, handle: `h-${id}`, keyHash: `kh-${id}`, balanceMicros, policy: { caps: { maxCostMicros: 5000 }, pins: ['m1'] }, createdAt: '2026-11-24T13:00:00.000Z' };
}

export function decision(id: string, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id,
    agentId: 'a1',
    createdAt: '2026-11-24T13:00:00.000Z',
    taskType: 'chat',
    model: null,
    provider: null,
    outcome: 'pending',
    holdMicros: 100,
    costMicros: 0,
    latencyMs: null,
    idempotencyKey: null,
    chainSeqs: [],
    detail: { candidates: [{ model: 'm1', score: 0.5 }], note: 'é' },
    feedback: null,
    ...over,
  };
}

export function describeStoreContract(name: string, makeBacking: () => Promise<StoreBacking>, opts: ContractOptions = {}): void {
  const skip = opts.skip ?? {};
  const itCase = (c: ContractCase, fn: () => Promise<void>) => {
    const reason = skip[c];
    if (reason) {
      console.warn(`[store contract: ${name}] skipped "${c}": ${reason}`);
      it.skip(`${c} (skipped: ${reason})`, fn);
    } else it(c, fn);
  };

  describe(`Store contract: ${name}`, () => {
    let backing: StoreBacking;
    let stores: Store[];
    let s: Store;
    const open = async () => {
      const st = await backing.open();
      stores.push(st);
      return st;
    };

    beforeEach(async () => {
      stores = [];
      backing = await makeBacking();
      s = await open();
    });
    afterEach(async () => {
      for (const st of stores) await st.close();
      await backing.dispose();
    });

    describe('ping', () => {
      it('answers a read-only round trip on an open store (every instance), reading and writing nothing', async () => {
        expect(s.ping).toBeTypeOf('function');
        await expect(s.ping!()).resolves.toBeUndefined(); // an empty store answers too
        const batch = makeEntries(null, 3, 'p', 'dec-ping');
        expect(await s.chain.append(null, batch)).toEqual({ ok: true });
        const s2 = await open();
        await expect(s2.ping!()).resolves.toBeUndefined();
        expect(await s.chain.head()).toEqual(headOf(batch));
        expect(await s.chain.entries(0, 10)).toEqual(batch);
        expect(await s.stats.list('')).toEqual([]);
      });
    });

    describe('chain', () => {
      it('starts empty', async () => {
        expect(await s.chain.head()).toBeNull();
        expect(await s.chain.entries(0, 10)).toEqual([]);
        expect(await s.chain.entry(0)).toBeNull();
        expect(await s.chain.leafHashes(0, 5)).toEqual([]);
        expect(await s.chain.latestCheckpoint()).toBeNull();
      });

      it('appends a batch and reads it back byte-exact', async () => {
        const batch = makeEntries(null, 5, 'a', 'dec-1');
        expect(await s.chain.append(null, batch)).toEqual({ ok: true });
        expect(await s.chain.head()).toEqual(headOf(batch));
        expect(await s.chain.entries(0, 100)).toEqual(batch);
        expect(await s.chain.entries(1, 2)).toEqual(batch.slice(1, 3));
        expect(await s.chain.entries(5, 10)).toEqual([]);
        expect(await s.chain.entry(3)).toEqual(batch[3]);
        expect(await s.chain.entry(5)).toBeNull();
        expect(await s.chain.leafHashes(1, 4)).toEqual(batch.slice(1, 4).map((e) => e.hash));
        const more = makeEntries(headOf(batch), 3, 'b', 'dec-2');
        expect(await s.chain.append(headOf(batch), more)).toEqual({ ok: true });
        expect((await s.chain.entriesOfDecision('dec-2')).map((e) => e.seq)).toEqual([5, 6, 7]);
        expect(await s.chain.entriesOfDecision('nope')).toEqual([]);
        const all = await s.chain.entries(0, 100);
        assertLinked(all);
        expect(all.map((e) => e.canonical)).toEqual([...batch, ...more].map((e) => e.canonical));
      });

      it('refuses a stale head (CAS) and writes nothing', async () => {
        const first = makeEntries(null, 3, 'a');
        await s.chain.append(null, first);
        const head = headOf(first)!;
        // Appending on an empty-chain assumption again.
        expect(await s.chain.append(null, makeEntries(null, 2, 'x'))).toEqual({ ok: false, head });
        // Right seq, wrong hash (another writer's entry 2).
        const forged = { seq: 2, hash: `0x${'ab'.repeat(32)}` };
        expect(await s.chain.append(forged, makeEntries(forged, 2, 'y'))).toEqual({ ok: false, head });
        // An older head.
        const older = { seq: 1, hash: first[1]!.hash };
        expect(await s.chain.append(older, makeEntries(older, 1, 'z'))).toEqual({ ok: false, head });
        expect(await s.chain.entries(0, 100)).toEqual(first);
        // An empty batch on the right head is a no-op success; on a stale one, a refusal.
        expect(await s.chain.append(head, [])).toEqual({ ok: true });
        expect(await s.chain.append(null, [])).toEqual({ ok: false, head });
      });

      it('rejects a malformed batch with StoreInputError and writes nothing', async () => {
        const first = makeEntries(null, 2, 'a');
        await s.chain.append(null, first);
        const head = headOf(first)!;
        const good = makeEntries(head, 3, 'b');
        const gap = [good[0]!, good[2]!];
        await expect(s.chain.append(head, gap)).rejects.toBeInstanceOf(StoreInputError);
        await expect(s.chain.append(head, good.slice(1))).rejects.toMatchObject({ name: 'StoreInputError', field: 'entries[0].seq' });
        await expect(s.chain.append(head, [{ ...good[0]!, hash: 'nothex' }])).rejects.toMatchObject({ field: 'entries[0].hash' });
        await expect(s.chain.append(head, [{ ...good[0]!, canonical: undefined as unknown as string }])).rejects.toMatchObject({ field: 'entries[0].canonical' });
        await expect(s.chain.append({ seq: -1, hash: head.hash }, good)).rejects.toBeInstanceOf(RangeError);
        await expect(s.chain.entries(-1, 5)).rejects.toBeInstanceOf(StoreInputError);
        await expect(s.chain.entries(0, 1.5)).rejects.toBeInstanceOf(StoreInputError);
        expect(await s.chain.entries(0, 100)).toEqual(first);
        expect(await s.chain.head()).toEqual(head);
      });

      it('lets exactly one of two instances win the same head', async () => {
        const s2 = await open();
        const base = makeEntries(null, 1, 'g');
        await s.chain.append(null, base);
        const head = headOf(base)!;
        const [r1, r2] = await Promise.all([s.chain.append(head, makeEntries(head, 4, 'one')), s2.chain.append(head, makeEntries(head, 4, 'two'))]);
        expect([r1.ok, r2.ok].filter(Boolean)).toHaveLength(1);
        const loser = r1.ok ? r2 : r1;
        const all = await s.chain.entries(0, 100);
        expect(all).toHaveLength(5);
        assertLinked(all);
        expect(loser).toEqual({ ok: false, head: headOf(all) });
        // The winner's batch is there whole; none of the loser's entries is.
        const tags = new Set(all.slice(1).map((e) => (JSON.parse(e.canonical) as { tag: string }).tag));
        expect(tags.size).toBe(1);
      });

      itCase('concurrent appenders', async () => {
        const s2 = await open();
        const writer = (st: Store, tag: string, batches: number) => appendBatchesWithRetry(st, tag, batches, 3);
        await Promise.all([writer(s, 'p', 12), writer(s2, 'q', 12), writer(s, 'r', 12)]);
        const all = await s2.chain.entries(0, 1000);
        assertLinked(all);
        // 3 writers x 12 batches of 1, 2, 3, 1, 2, 3... entries: every batch exactly once, whole.
        expect(all).toHaveLength(3 * 24);
        const perBatch = new Map<string, number>();
        for (const e of all) {
          const tag = (JSON.parse(e.canonical) as { tag: string }).tag;
          perBatch.set(tag, (perBatch.get(tag) ?? 0) + 1);
        }
        expect(perBatch.size).toBe(36);
        for (const [tag, n] of perBatch) expect(n, tag).toBe(1 + (Number(tag.slice(1)) % 3));
        expect(await s.chain.head()).toEqual(headOf(all));
      });

      it('watch delivers the backlog, then live entries, exactly once and in order', async () => {
        const first = makeEntries(null, 6, 'a');
        await s.chain.append(null, first);
        const got: StoredEntry[][] = [];
        const errors: Error[] = [];
        const w = s.chain.watch(2, (batch) => got.push(batch), (e) => errors.push(e));
        await until(() => got.flat().length >= 4, 10_000, 'backlog');
        expect(got.flat().map((e) => e.seq)).toEqual([2, 3, 4, 5]);
        let head = headOf(first);
        for (let i = 0; i < 4; i++) {
          const b = makeEntries(head, 2, `live${i}`);
          expect((await s.chain.append(head, b)).ok).toBe(true);
          head = headOf(b);
        }
        await until(() => got.flat().length >= 12, 10_000, 'live entries');
        await sleep(150); // a duplicate would arrive within a few polls
        const flat = got.flat();
        expect(flat.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        expect(flat).toEqual((await s.chain.entries(0, 100)).slice(2));
        expect(errors).toEqual([]);
        w.close();
        const before = got.flat().length;
        await s.chain.append(head, makeEntries(head, 1, 'after-close'));
        await sleep(150);
        expect(got.flat().length).toBe(before);
      });

      it('watch from a seq beyond the head waits for it; from 0 on an empty chain gets everything', async () => {
        const fromFuture: number[] = [];
        const fromZero: number[] = [];
        const w1 = s.chain.watch(3, (b) => fromFuture.push(...b.map((e) => e.seq)));
        const w2 = s.chain.watch(0, (b) => fromZero.push(...b.map((e) => e.seq)));
        const b1 = makeEntries(null, 2, 'a');
        await s.chain.append(null, b1);
        const b2 = makeEntries(headOf(b1), 3, 'b');
        await s.chain.append(headOf(b1), b2);
        await until(() => fromZero.length >= 5 && fromFuture.length >= 2, 10_000, 'entries');
        await sleep(100);
        expect(fromZero).toEqual([0, 1, 2, 3, 4]);
        expect(fromFuture).toEqual([3, 4]);
        w1.close();
        w2.close();
      });

      itCase('watch across instances', async () => {
        const s2 = await open();
        const seen: number[] = [];
        const w = s.chain.watch(0, (b) => seen.push(...b.map((e) => e.seq)));
        let head = await s2.chain.head();
        for (let i = 0; i < 5; i++) {
          const st = i % 2 ? s : s2;
          const b = makeEntries(head, 2, `x${i}`);
          expect((await st.chain.append(head, b)).ok).toBe(true);
          head = headOf(b);
        }
        await until(() => seen.length >= 10, 10_000, 'entries from the other instance');
        await sleep(150);
        expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        w.close();
      });

      it('a throwing subscriber gets onError and keeps its place', async () => {
        const seen: number[] = [];
        const errors: Error[] = [];
        let calls = 0;
        const w = s.chain.watch(
          0,
          (b) => {
            seen.push(...b.map((e) => e.seq));
            if (calls++ === 0) throw new Error('subscriber bug');
          },
          (e) => errors.push(e),
        );
        const b1 = makeEntries(null, 2, 'a');
        await s.chain.append(null, b1);
        await until(() => seen.length >= 2, 10_000, 'first batch');
        await s.chain.append(headOf(b1), makeEntries(headOf(b1), 2, 'b'));
        await until(() => seen.length >= 4, 10_000, 'second batch');
        expect(seen).toEqual([0, 1, 2, 3]);
        expect(errors.map((e) => e.message)).toEqual(['subscriber bug']);
        w.close();
      });
    });

    describe('checkpoints', () => {
      const cp = (size: number, root = 'cd') => ({ size, rootHash: `0x${root.repeat(32)}`, time: '2026-11-24T13:00:01.000Z', note: `ainfera.test/log\n${size}\nroot\n\n— ainfera sig\n` });

      it('numbers checkpoints, is idempotent by size, refuses shrinking sizes', async () => {
        expect(await s.chain.addCheckpoint(cp(3))).toEqual({ index: 0, ...cp(3) });
        expect(await s.chain.addCheckpoint(cp(7))).toEqual({ index: 1, ...cp(7) });
        // Same size again (another process cut it): the stored one comes back unchanged.
        expect(await s.chain.addCheckpoint(cp(7, 'ef'))).toEqual({ index: 1, ...cp(7) });
        await expect(s.chain.addCheckpoint(cp(5))).rejects.toBeInstanceOf(StoreConflictError);
        await expect(s.chain.addCheckpoint(cp(-1))).rejects.toBeInstanceOf(StoreInputError);
        await expect(s.chain.addCheckpoint({ ...cp(9), rootHash: 'zz' })).rejects.toMatchObject({ field: 'rootHash' });
        expect(await s.chain.addCheckpoint(cp(12))).toEqual({ index: 2, ...cp(12) });
        expect(await s.chain.latestCheckpoint()).toEqual({ index: 2, ...cp(12) });
        expect(await s.chain.checkpointBySize(7)).toEqual({ index: 1, ...cp(7) });
        expect(await s.chain.checkpointBySize(8)).toBeNull();
        expect(await s.chain.checkpointByIndex(0)).toEqual({ index: 0, ...cp(3) });
        expect(await s.chain.checkpointByIndex(3)).toBeNull();
        expect((await s.chain.checkpoints(1, 10)).map((c) => c.index)).toEqual([1, 2]);
        expect((await s.chain.checkpoints(0, 2)).map((c) => c.size)).toEqual([3, 7]);
      });

      itCase('concurrent checkpoints', async () => {
        const s2 = await open();
        const sizes = [2, 4, 6, 8, 10];
        const results = await Promise.all(sizes.flatMap((n) => [s.chain.addCheckpoint(cp(n)), s2.chain.addCheckpoint(cp(n))]).map((p) => p.catch((e: Error) => e)));
        // Same size cut twice at once: one checkpoint. A smaller size losing a race may be refused.
        for (const r of results) if (r instanceof Error) expect(r).toBeInstanceOf(StoreConflictError);
        const all = await s.chain.checkpoints(0, 100);
        expect(all.map((c) => c.index)).toEqual(all.map((_, i) => i));
        for (let i = 1; i < all.length; i++) expect(all[i]!.size).toBeGreaterThan(all[i - 1]!.size);
        expect(all.at(-1)?.size).toBe(10);
      });
    });

    describe('accounts', () => {
      it('creates agents and finds them by id, key hash and handle', async () => {
        const a1 = agent('a1', 500);
        expect(await s.accounts.createAgent(a1)).toEqual(a1);
        await s.accounts.createAgent({ ...agent('a2'), createdAt: '2026-11-24T13:00:05.000Z' });
        expect(await s.accounts.agentsByIds(['a2', 'zz', 'a1'])).toEqual([expect.objectContaining({ id: 'a2' }), null, a1]);
        expect(await s.accounts.agentsByIds([])).toEqual([]);
        expect(await s.accounts.agentByKeyHash('kh-a1')).toEqual(a1);
        expect(await s.accounts.agentByHandle('h-a2')).toMatchObject({ id: 'a2', balanceMicros: 0 });
        expect(await s.accounts.agentByHandle('nobody')).toBeNull();
        expect((await s.accounts.listAgents()).map((a) => a.id)).toEqual(['a1', 'a2']);
        expect(await s.accounts.setPolicy('a1', { bar: { chat: 0.9 } })).toEqual({ ...a1, policy: { bar: { chat: 0.9 } } });
        expect(await s.accounts.setPolicy('zz', {})).toBeNull();
      });

      it('refuses a taken handle, key hash or id with StoreConflictError naming it', async () => {
        await s.accounts.createAgent(agent('a1'));
        await expect(s.accounts.createAgent({ ...agent('b'), handle: 'h-a1' })).rejects.toMatchObject({ name: 'StoreConflictError', field: 'handle' });
        await expect(s.accounts.createAgent({ ...agent('b'), keyHash: 'kh-a1' })).rejects.toMatchObject({ name: 'StoreConflictError', field: 'keyHash' });
        await expect(s.accounts.createAgent({ ...agent('a1'), handle: 'new', keyHash: 'new' })).rejects.toMatchObject({ name: 'StoreConflictError', field: 'id' });
        expect(await s.accounts.listAgents()).toHaveLength(1);
      });

      it('credits, holds and settles integer micro-USD, each hold keyed by its decision', async () => {
        await s.accounts.createAgent(agent('a1', 100));
        expect(await s.accounts.credit('a1', 50)).toBe(150);
        expect(await s.accounts.hold('a1', 'd1', 120)).toEqual({ ok: true, balanceMicros: 30 });
        expect(await s.accounts.hold('a1', 'd2', 31)).toEqual({ ok: false, balanceMicros: 30 });
        expect(await s.accounts.hold('a1', 'd2', 30)).toEqual({ ok: true, balanceMicros: 0 });
        expect(await s.accounts.hold('a1', 'd3', 0)).toEqual({ ok: true, balanceMicros: 0 });
        // hold - charge comes back; balances never count what is held.
        expect(await s.accounts.settleHold('a1', 'd1', 75)).toEqual({ settled: true, refundMicros: 45, balanceMicros: 45 });
        expect(await s.accounts.settleHold('a1', 'd3', 0)).toEqual({ settled: true, refundMicros: 0, balanceMicros: 45 });
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(45);
        expect((await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).map((h) => [h.decisionId, h.micros])).toEqual([['d2', 30]]);
        await expect(s.accounts.hold('ghost', 'g1', 1)).rejects.toBeInstanceOf(StoreNotFoundError);
        await expect(s.accounts.settleHold('ghost', 'g1', 0)).rejects.toBeInstanceOf(StoreNotFoundError);
        await expect(s.accounts.credit('ghost', 1)).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('treats decision ids that are Object.prototype names as ordinary ids (no phantom hold, no NaN balance)', async () => {
        await s.accounts.createAgent(agent('a1', 1000));
        for (const id of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
          expect(await s.accounts.settleHold('a1', id, 0), id).toEqual({ settled: false, refundMicros: 0, balanceMicros: 1000 });
        }
        expect(await s.accounts.hold('a1', 'constructor', 300)).toEqual({ ok: true, balanceMicros: 700 });
        expect(await s.accounts.settleHold('a1', 'constructor', 100)).toEqual({ settled: true, refundMicros: 200, balanceMicros: 900 });
        expect(await s.accounts.settleHold('a1', 'constructor', 0)).toEqual({ settled: false, refundMicros: 0, balanceMicros: 900 });
        expect(await s.accounts.hold('a1', 'toString', 2000)).toEqual({ ok: false, balanceMicros: 900 });
        expect((await s.accounts.agentsByIds(['a1']))[0]!.balanceMicros).toBe(900);
      });

      it('settles a hold exactly once: a second settle, an unknown hold or another agent\'s moves nothing', async () => {
        await s.accounts.createAgent(agent('a1', 1000));
        await s.accounts.createAgent(agent('a2', 0));
        const s2 = await open();
        expect(await s.accounts.hold('a1', 'd1', 400)).toEqual({ ok: true, balanceMicros: 600 });
        // The same hold settled again - by this instance or another, with any charge - moves nothing.
        expect(await s.accounts.settleHold('a1', 'd1', 100)).toEqual({ settled: true, refundMicros: 300, balanceMicros: 900 });
        expect(await s.accounts.settleHold('a1', 'd1', 100)).toEqual({ settled: false, refundMicros: 0, balanceMicros: 900 });
        expect(await s2.accounts.settleHold('a1', 'd1', 0)).toEqual({ settled: false, refundMicros: 0, balanceMicros: 900 });
        // A hold never taken, and a hold settled under the wrong agent: nothing.
        expect(await s.accounts.settleHold('a1', 'never', 0)).toEqual({ settled: false, refundMicros: 0, balanceMicros: 900 });
        expect(await s.accounts.hold('a1', 'd2', 50)).toEqual({ ok: true, balanceMicros: 850 });
        expect(await s.accounts.settleHold('a2', 'd2', 0)).toEqual({ settled: false, refundMicros: 0, balanceMicros: 0 });
        // A charge above the hold is the caller's arithmetic error: refused, the hold stays open.
        await expect(s.accounts.settleHold('a1', 'd2', 51)).rejects.toMatchObject({ name: 'StoreInputError', field: 'chargeMicros' });
        expect((await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).map((h) => h.decisionId)).toEqual(['d2']);
        expect(await s2.accounts.settleHold('a1', 'd2', 50)).toEqual({ settled: true, refundMicros: 0, balanceMicros: 850 });
        expect(await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).toEqual([]);
        expect((await s.accounts.agentsByIds(['a1', 'a2'])).map((a) => a?.balanceMicros)).toEqual([850, 0]);
      });

      it('refuses a second open hold for one decision id, and keeps the first', async () => {
        await s.accounts.createAgent(agent('a1', 100));
        await s.accounts.createAgent(agent('a2', 100));
        const s2 = await open();
        expect(await s.accounts.hold('a1', 'd1', 10)).toEqual({ ok: true, balanceMicros: 90 });
        await expect(s2.accounts.hold('a1', 'd1', 10)).rejects.toMatchObject({ name: 'StoreConflictError', field: 'decisionId' });
        // Even one the balance could not cover: the id is taken. (Holds are keyed per agent: a decision
        // belongs to one agent, and the MongoDB adapter keeps each agent's holds in its own document.)
        await expect(s.accounts.hold('a1', 'd1', 1000)).rejects.toMatchObject({ name: 'StoreConflictError', field: 'decisionId' });
        expect((await s.accounts.agentsByIds(['a1', 'a2'])).map((a) => a?.balanceMicros)).toEqual([90, 100]);
        const open1 = await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 10);
        expect(open1).toEqual([{ agentId: 'a1', decisionId: 'd1', micros: 10, createdAt: expect.any(String), migrated: false }]);
        // Settling it frees the id for a new hold (the ledger forgets settled holds: ids must not be reused).
        await s2.accounts.settleHold('a1', 'd1', 10);
        expect(await s.accounts.hold('a1', 'd1', 10)).toEqual({ ok: true, balanceMicros: 80 });
        // A refused hold (balance too low) records nothing: the same id can then hold what the balance covers.
        expect(await s.accounts.hold('a2', 'd2', 101)).toEqual({ ok: false, balanceMicros: 100 });
        expect(await s.accounts.hold('a2', 'd2', 100)).toEqual({ ok: true, balanceMicros: 0 });
      });

      it('lists open holds older than a time, oldest first, in keyset pages', async () => {
        await s.accounts.createAgent(agent('a1', 1000));
        await s.accounts.createAgent(agent('a2', 1000));
        const t = (sec: number) => new Date(Date.UTC(2026, 10, 24, 13, 0, sec)).toISOString();
        // Stamped out of order, two agents, a tie on time (ordered by decision id).
        await s.accounts.hold('a1', 'h3', 3, t(3));
        await s.accounts.hold('a2', 'h1b', 2, t(1));
        await s.accounts.hold('a1', 'h1a', 1, t(1));
        await s.accounts.hold('a2', 'h5', 5, t(5));
        await s.accounts.hold('a1', 'h2', 4);
        const ids = (hs: { decisionId: string }[]) => hs.map((h) => h.decisionId);
        expect(ids(await s.accounts.openHolds(t(5), 10))).toEqual(['h1a', 'h1b', 'h3']);
        const page1 = await s.accounts.openHolds(t(6), 2);
        expect(page1).toEqual([
          { agentId: 'a1', decisionId: 'h1a', micros: 1, createdAt: t(1), migrated: false },
          { agentId: 'a2', decisionId: 'h1b', micros: 2, createdAt: t(1), migrated: false },
        ]);
        expect(ids(await s.accounts.openHolds(t(6), 2, page1[1]))).toEqual(['h3', 'h5']);
        expect(ids(await s.accounts.openHolds(t(6), 2, { createdAt: t(5), decisionId: 'h5' }))).toEqual([]);
        // The default stamp is now.
        expect(ids(await s.accounts.openHolds(new Date(Date.now() + 60_000).toISOString(), 10))).toContain('h2');
        await expect(s.accounts.openHolds('yesterday', 10)).rejects.toMatchObject({ name: 'StoreInputError', field: 'before' });
        await expect(s.accounts.hold('a1', 'h9', 1, '2026-11-24 13:00')).rejects.toMatchObject({ name: 'StoreInputError', field: 'createdAt' });
        for (const bad of ['', 'a.b', '$x', 'x'.repeat(129), 'd 1', 7 as unknown as string]) {
          await expect(s.accounts.hold('a1', bad, 1)).rejects.toMatchObject({ name: 'StoreInputError', field: 'decisionId' });
        }
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(1000 - 3 - 1 - 4);
      });

      it('rejects bad money with a typed error and changes nothing', async () => {
        await s.accounts.createAgent(agent('a1', 100));
        await s.accounts.hold('a1', 'open', 10);
        const bad = [-1, 1.5, Number.NaN, Infinity, MAX + 1, '5' as unknown as number, null as unknown as number];
        for (const m of bad) {
          await expect(s.accounts.hold('a1', 'd1', m)).rejects.toMatchObject({ name: 'StoreInputError', field: 'micros' });
          await expect(s.accounts.credit('a1', m)).rejects.toBeInstanceOf(RangeError);
          await expect(s.accounts.settleHold('a1', 'open', m)).rejects.toMatchObject({ name: 'StoreInputError', field: 'chargeMicros' });
        }
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(90);
        expect(await s.accounts.settleHold('a1', 'open', 0)).toEqual({ settled: true, refundMicros: 10, balanceMicros: 100 });
        // Overflow past the largest safe integer is refused, not rounded.
        await expect(s.accounts.credit('a1', MAX - 50)).rejects.toMatchObject({ name: 'StoreInputError', field: 'micros' });
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(100);
        await expect(s.accounts.createAgent(agent('neg', -5))).rejects.toMatchObject({ field: 'balanceMicros' });
        await expect(s.accounts.createAgent(agent('frac', 0.5))).rejects.toBeInstanceOf(StoreInputError);
        expect(await s.accounts.listAgents()).toHaveLength(1);
        // Open holds count towards that limit: each may come back in full, and that must stay safe.
        expect(await s.accounts.hold('a1', 'big', 60)).toEqual({ ok: true, balanceMicros: 40 });
        await expect(s.accounts.credit('a1', MAX - 99)).rejects.toMatchObject({ name: 'StoreInputError', field: 'micros' });
        expect(await s.accounts.credit('a1', MAX - 100)).toBe(MAX - 60);
        expect(await s.accounts.settleHold('a1', 'big', 0)).toEqual({ settled: true, refundMicros: 60, balanceMicros: MAX });
        // The largest safe balance itself is fine.
        expect(await s.accounts.hold('a1', 'all', MAX)).toEqual({ ok: true, balanceMicros: 0 });
      });

      itCase('hold under concurrency', async () => {
        const s2 = await open();
        await s.accounts.createAgent(agent('a1', 10));
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? s : s2).accounts.hold('a1', `c${i}`, 1)));
        expect(results.filter((r) => r.ok)).toHaveLength(10);
        for (const r of results) expect(r.balanceMicros).toBeGreaterThanOrEqual(0);
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(0);
        // Exactly the holds that succeeded are in the ledger.
        expect(await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 100)).toHaveLength(10);
        // Mixed amounts: holds of 3 against 10 -> exactly 3 succeed, 1 left.
        await s.accounts.credit('a1', 10);
        const mixed = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s : s2).accounts.hold('a1', `m${i}`, 3)));
        expect(mixed.filter((r) => r.ok)).toHaveLength(3);
        expect((await s2.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(1);
        // Racing holds with one id: one wins, the others are refused as conflicts, one hold is taken.
        await s.accounts.credit('a1', 99);
        const same = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 ? s : s2).accounts.hold('a1', 'one', 7)));
        expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of same) if (r.status === 'rejected') expect(r.reason).toMatchObject({ name: 'StoreConflictError', field: 'decisionId' });
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(93);
      });

      // A double winner would refund twice: the whole point of keying holds.
      itCase('hold settle race across instances', async () => {
        const s2 = await open();
        await s.accounts.createAgent(agent('a1', 10_000));
        for (let i = 0; i < 10; i++) {
          expect((await s.accounts.hold('a1', `r${i}`, 100)).ok).toBe(true);
          const rs = await Promise.all([s.accounts.settleHold('a1', `r${i}`, 30), s2.accounts.settleHold('a1', `r${i}`, 30), s.accounts.settleHold('a1', `r${i}`, 30)]);
          expect(rs.filter((r) => r.settled)).toEqual([expect.objectContaining({ refundMicros: 70 })]);
        }
        expect((await s.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(10_000 - 10 * 30);
        expect(await s.accounts.openHolds('2999-01-01T00:00:00.000Z', 100)).toEqual([]);
      });
    });

    describe('decisions', () => {
      it('inserts, reads by ids and by idempotency key, keeps detail JSON', async () => {
        const d1 = decision('d1', { idempotencyKey: 'k1', chainSeqs: [3, 4] });
        await s.decisions.insert(d1);
        await s.decisions.insert(decision('d2'));
        expect(await s.decisions.byIds(['d2', 'x', 'd1'])).toEqual([decision('d2'), null, d1]);
        expect(await s.decisions.byIdempotencyKey('a1', 'k1')).toEqual(d1);
        expect(await s.decisions.byIdempotencyKey('a2', 'k1')).toBeNull();
      });

      it('enforces unique ids and (agentId, idempotencyKey), nulls excepted', async () => {
        await s.decisions.insert(decision('d1', { idempotencyKey: 'k1' }));
        await expect(s.decisions.insert(decision('d1', { idempotencyKey: 'other' }))).rejects.toMatchObject({ name: 'StoreConflictError', field: 'id' });
        await expect(s.decisions.insert(decision('d2', { idempotencyKey: 'k1' }))).rejects.toMatchObject({ name: 'StoreConflictError', field: 'idempotencyKey' });
        await s.decisions.insert(decision('d3', { agentId: 'a2', idempotencyKey: 'k1' }));
        await s.decisions.insert(decision('d4'));
        await s.decisions.insert(decision('d5'));
        expect((await s.decisions.byIds(['d1', 'd2', 'd3', 'd4', 'd5'])).map((d) => d?.id ?? null)).toEqual(['d1', null, 'd3', 'd4', 'd5']);
        // Concurrent inserts of one key from two instances: exactly one wins.
        const s2 = await open();
        const rs = await Promise.allSettled([s.decisions.insert(decision('e1', { idempotencyKey: 'race' })), s2.decisions.insert(decision('e2', { idempotencyKey: 'race' }))]);
        expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(rs.find((r) => r.status === 'rejected')).toMatchObject({ reason: { field: 'idempotencyKey' } });
      });

      it('updates by patch; bad patches are refused and change nothing', async () => {
        await s.decisions.insert(decision('d1'));
        await s.decisions.insert(decision('d2', { idempotencyKey: 'k2' }));
        const feedback = { success: true, reason: null, at: '2026-11-24T13:00:09.000Z' };
        const up = await s.decisions.update('d1', { outcome: 'completed', model: 'm1', provider: 'p1', costMicros: 42, latencyMs: 812.5, chainSeqs: [1, 2], detail: { attempts: 2 }, feedback });
        expect(up).toEqual({ ...decision('d1'), outcome: 'completed', model: 'm1', provider: 'p1', costMicros: 42, latencyMs: 812.5, chainSeqs: [1, 2], detail: { attempts: 2 }, feedback });
        expect((await s.decisions.byIds(['d1']))[0]).toEqual(up);
        expect(await s.decisions.update('nope', { outcome: 'failed' })).toBeNull();
        await expect(s.decisions.update('d1', { costMicros: -1 })).rejects.toMatchObject({ name: 'StoreInputError', field: 'costMicros' });
        await expect(s.decisions.update('d1', { holdMicros: 0.25 })).rejects.toBeInstanceOf(StoreInputError);
        await expect(s.decisions.update('d1', { outcome: 'weird' as never })).rejects.toMatchObject({ field: 'outcome' });
        await expect(s.decisions.update('d1', { agentId: 'other' } as never)).rejects.toMatchObject({ field: 'agentId' });
        await expect(s.decisions.update('d1', { idempotencyKey: 'k2' })).rejects.toMatchObject({ name: 'StoreConflictError', field: 'idempotencyKey' });
        expect((await s.decisions.byIds(['d1']))[0]).toEqual(up);
        // Setting then clearing a key.
        await s.decisions.update('d1', { idempotencyKey: 'k1' });
        expect((await s.decisions.byIdempotencyKey('a1', 'k1'))?.id).toBe('d1');
        await s.decisions.update('d1', { idempotencyKey: null });
        expect(await s.decisions.byIdempotencyKey('a1', 'k1')).toBeNull();
        await expect(s.decisions.insert(decision('d9', { holdMicros: -3 }))).rejects.toMatchObject({ field: 'holdMicros' });
        expect(await s.decisions.byIds(['d9'])).toEqual([null]);
      });

      it('updateIfPending settles a pending decision exactly once', async () => {
        const s2 = await open();
        await s.decisions.insert(decision('p1'));
        const up = await s.decisions.updateIfPending('p1', { outcome: 'failed', holdMicros: 100, detail: { reason: 'recovered' } });
        expect(up).toEqual({ ...decision('p1'), outcome: 'failed', detail: { reason: 'recovered' } });
        // No longer pending: refused, nothing changes.
        expect(await s.decisions.updateIfPending('p1', { outcome: 'completed', costMicros: 5 })).toBeNull();
        expect(await s2.decisions.updateIfPending('p1', { outcome: 'failed' })).toBeNull();
        expect((await s.decisions.byIds(['p1']))[0]).toEqual(up);
        expect(await s.decisions.updateIfPending('nope', { outcome: 'failed' })).toBeNull();
        // A patch that keeps it pending still applies (recording the hold), and stays conditional.
        await s.decisions.insert(decision('p2', { holdMicros: 0 }));
        expect(await s.decisions.updateIfPending('p2', { holdMicros: 70 })).toMatchObject({ outcome: 'pending', holdMicros: 70 });
        await expect(s.decisions.updateIfPending('p2', { costMicros: -1 })).rejects.toMatchObject({ name: 'StoreInputError', field: 'costMicros' });
      });

      // Whoever moves a decision out of pending releases its hold: a double winner would refund twice.
      itCase('settle race across instances', async () => {
        const s2 = await open();
        for (let i = 0; i < 10; i++) {
          await s.decisions.insert(decision(`r${i}`));
          const rs = await Promise.all([
            s.decisions.updateIfPending(`r${i}`, { outcome: 'failed' }),
            s2.decisions.updateIfPending(`r${i}`, { outcome: 'completed', costMicros: 1 }),
          ]);
          expect(rs.filter((r) => r !== null)).toHaveLength(1);
        }
      });

      it('lists newest first with stable, complete keyset pages and filters', async () => {
        // 23 decisions over 8 distinct timestamps: ties on createdAt are ordered by id.
        const all: DecisionRecord[] = [];
        for (let i = 0; i < 23; i++) {
          const d = decision(`d${String(i).padStart(2, '0')}`, {
            agentId: i % 3 === 0 ? 'a2' : 'a1',
            createdAt: new Date(Date.UTC(2026, 10, 24, 13, 0, Math.floor(i / 3))).toISOString(),
            outcome: i % 4 === 0 ? 'failed' : 'completed',
            model: i % 2 ? 'm-odd' : 'm-even',
          });
          all.push(d);
          await s.decisions.insert(d);
        }
        const expected = [...all].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1)).map((d) => d.id);
        const pages: string[][] = [];
        let after: string | undefined;
        for (;;) {
          const page = await s.decisions.list({}, 5, after);
          pages.push(page.items.map((d) => d.id));
          // A newer decision arriving mid-pagination does not shift later pages.
          if (pages.length === 2) await s.decisions.insert(decision('late', { createdAt: '2026-11-24T14:00:00.000Z' }));
          if (!page.hasNextPage) break;
          after = page.items.at(-1)!.id;
        }
        expect(pages.flat()).toEqual(expected);
        expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
        expect((await s.decisions.list({}, 1)).items[0]?.id).toBe('late');

        const a2 = await s.decisions.list({ agentId: 'a2' }, 100);
        expect(a2.items.map((d) => d.id)).toEqual(expected.filter((id) => Number(id.slice(1)) % 3 === 0));
        expect(a2.hasNextPage).toBe(false);
        const failedOdd = await s.decisions.list({ outcome: 'failed', model: 'm-odd' }, 100);
        expect(failedOdd.items).toEqual([]);
        const failedA2 = await s.decisions.list({ outcome: 'failed', agentId: 'a2' }, 100);
        expect(failedA2.items.map((d) => d.id)).toEqual(['d12', 'd00']);
        const window = await s.decisions.list({ since: '2026-11-24T13:00:02.000Z', until: '2026-11-24T13:00:04.000Z' }, 100);
        expect(window.items.map((d) => d.id)).toEqual(['d11', 'd10', 'd09', 'd08', 'd07', 'd06']);
        const empty = await s.decisions.list({ taskType: 'code' }, 10);
        expect(empty).toEqual({ items: [], hasNextPage: false });
        const zero = await s.decisions.list({}, 0);
        expect(zero).toEqual({ items: [], hasNextPage: true });
        await expect(s.decisions.list({}, 5, 'no-such-cursor')).rejects.toMatchObject({ name: 'StoreInputError', field: 'after' });
        await expect(s.decisions.list({}, -1)).rejects.toBeInstanceOf(StoreInputError);
      });
    });

    describe('stats', () => {
      it('puts, gets and lists JSON values by key prefix', async () => {
        expect(await s.stats.get('lat:m1')).toBeNull();
        await s.stats.put('lat:m1', { p50: 120, n: 3 });
        await s.stats.put('lat:m2', [1, 2, 3]);
        await s.stats.put('lat%:_x', 'literal prefix chars');
        await s.stats.put('health:p1', { up: true });
        await s.stats.put('lat:m1', { p50: 130, n: 4 });
        expect(await s.stats.get('lat:m1')).toEqual({ p50: 130, n: 4 });
        const lat = await s.stats.list('lat:');
        expect(lat.map((r) => [r.key, r.value])).toEqual([
          ['lat:m1', { p50: 130, n: 4 }],
          ['lat:m2', [1, 2, 3]],
        ]);
        for (const r of lat) expect(Number.isNaN(Date.parse(r.updatedAt))).toBe(false);
        expect((await s.stats.list('lat%')).map((r) => r.key)).toEqual(['lat%:_x']);
        expect(await s.stats.list('')).toHaveLength(4);
        expect(await s.stats.list('zzz')).toEqual([]);
        const s2 = await open();
        expect(await s2.stats.get('health:p1')).toEqual({ up: true });
      });
    });
  });
}
