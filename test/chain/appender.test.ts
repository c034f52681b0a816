import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainAppender, ChainBackpressureError, ChainClosedError, ChainInputError, ChainStoreError, type AppendedEnvelope } from '../../src/chain/appender.js';
import { canonicalJson } from '../../src/chain/canonical.js';
import { parseCheckpoint, parseNoteVerifierKey, verifyCheckpoint } from '../../src/chain/checkpoint.js';
import { toHex0x } from '../../src/chain/encoding.js';
import type { EventInput } from '../../src/chain/types.js';
import { GENESIS_PREV } from '../../src/chain/types.js';
import type { ChainStore } from '../../src/store/port.js';
import { event, openChain, tempDir, verifyStore } from './appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

describe('ChainAppender group commit', () => {
  it('gives concurrent appends gap-free seqs in call order, each durable and readable when acknowledged', async () => {
    const c = await openChain(tmp.dir, { signingWorkers: 1 });
    try {
      const batches: number[][] = [];
      c.appender.onAppended((b) => batches.push(b.map((e) => e.seq)));
      const acks = await Promise.all(Array.from({ length: 1200 }, (_, i) => c.appender.append(event(i))));
      acks.forEach((a, i) => expect(a.seq).toBe(i));
      expect(acks[0]!.entry.prev).toBe(GENESIS_PREV);
      for (let i = 1; i < acks.length; i++) expect(acks[i]!.entry.prev).toBe(acks[i - 1]!.hash);
      // Group commit: fewer store writes than entries; the listener saw every seq once, in order.
      expect(c.appender.stats.batches).toBeLessThan(1200);
      expect(batches.flat()).toEqual(acks.map((a) => a.seq));
      for (const i of [0, 1, 599, 1199]) {
        const stored = await c.store.chain.entry(i);
        expect(stored).toMatchObject({ seq: i, hash: acks[i]!.hash, sig: acks[i]!.sig, keyId: c.keys.keyId });
        expect(stored!.canonical).toBe(canonicalJson(acks[i]!.entry));
      }
      expect(await c.store.chain.head()).toEqual({ seq: 1199, hash: acks[1199]!.hash });
      const cp = await c.appender.checkpoint();
      expect(cp).toMatchObject({ index: 0, size: 1200 });
      const verdict = await verifyStore(c.store, c.keys);
      expect(verdict).toMatchObject({ ok: true, entries: 1200, checkpoints: 1 });
    } finally {
      await c.close();
    }
  });

  it('signs the same bytes in-thread and in workers', async () => {
    const a = await openChain(tmp.dir, { signingWorkers: 0 });
    try {
      const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => a.appender.append(event(i))));
      expect(acks.map((x) => x.seq)).toEqual([...Array(50).keys()]);
    } finally {
      await a.close();
    }
    const b = await openChain(tmp.dir, { signingWorkers: 2 });
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => b.appender.append(event(i))));
      expect(await verifyStore(b.store, b.keys)).toMatchObject({ ok: true, entries: 350 });
    } finally {
      await b.close();
    }
  });

  it('rejects bad events with a typed error naming the field, and changes nothing', async () => {
    const c = await openChain(tmp.dir);
    try {
      await c.appender.append(event(0));
      const bad: [unknown, string][] = [
        [{ ...event(1), fields: { seq: 5 } }, 'fields.seq'],
        [{ ...event(1), fields: { prev: 'x' } }, 'fields.prev'],
        [{ ...event(1), fields: { hash: 'x' } }, 'fields.hash'],
        [{ ...event(1), fields: { cost: 1.5 } }, 'fields.cost'],
        [{ ...event(1), fields: { big: 2 ** 60 } }, 'fields.big'],
        [{ ...event(1), fields: { nested: { a: 1 } } }, 'fields.nested'],
        [{ ...event(1), fields: { 'bad name': 1 } }, 'fields.bad name'],
        [{ ...event(1), agent: '' }, 'agent'],
        [{ ...event(1), decision: 7 }, 'decision'],
        [{ ...event(1), kind: 'Not A Kind' }, 'kind'],
        [{ ...event(1), model: 'bad\uD800' }, 'model'],
        [{ ...event(1), prompt: 'secret' }, 'prompt'],
        [null, 'event'],
      ];
      for (const [input, field] of bad) {
        const err = await c.appender.append(input as EventInput).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, field).toBeInstanceOf(ChainInputError);
        expect((err as ChainInputError).field).toBe(field);
      }
      expect((await c.store.chain.head())?.seq).toBe(0);
      expect((await c.appender.append(event(2))).seq).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('refuses events beyond the queue bound with a clear error, and after close', async () => {
    const c = await openChain(tmp.dir, { maxQueue: 10 });
    const ok = Array.from({ length: 10 }, (_, i) => c.appender.append(event(i)));
    const refused = c.appender.append(event(10));
    await expect(refused).rejects.toBeInstanceOf(ChainBackpressureError);
    await expect(refused).rejects.toThrow(/queue is full/);
    expect((await Promise.all(ok)).map((a) => a.seq)).toEqual([...Array(10).keys()]);
    await c.appender.close();
    await expect(c.appender.append(event(11))).rejects.toBeInstanceOf(ChainClosedError);
    await c.store.close();
  });

  it('close() flushes the queue and cuts a signed checkpoint over the Merkle root', async () => {
    const c = await openChain(tmp.dir);
    const pending = Array.from({ length: 40 }, (_, i) => c.appender.append(event(i)));
    await c.appender.close();
    expect((await Promise.all(pending)).length).toBe(40);
    const cp = await c.store.chain.latestCheckpoint();
    expect(cp).toMatchObject({ index: 0, size: 40 });
    const parsed = parseCheckpoint(cp!.note);
    expect(parsed.size).toBe(40);
    expect(toHex0x(parsed.rootHash)).toBe(cp!.rootHash);
    expect(() => verifyCheckpoint(cp!.note, [parseNoteVerifierKey(c.keys.noteKey)])).not.toThrow();
    await c.store.close();
  });

  it('cuts checkpoints on its own while entries arrive', async () => {
    const c = await openChain(tmp.dir, { checkpointIntervalMs: 40 });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => c.appender.append(event(i))));
      const deadline = Date.now() + 5000;
      while (!(await c.store.chain.latestCheckpoint()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((await c.store.chain.latestCheckpoint())?.size).toBe(20);
    } finally {
      await c.close();
    }
  });

  it('recovers head and tree on restart: the next seq continues and the whole chain verifies', async () => {
    const a = await openChain(tmp.dir);
    const first = await Promise.all(Array.from({ length: 300 }, (_, i) => a.appender.append(event(i))));
    await a.close();
    const b = await openChain(tmp.dir);
    try {
      expect(b.appender.head).toEqual({ seq: 299, hash: first[299]!.hash });
      expect(b.appender.size).toBe(300);
      const next = await b.appender.append(event(300));
      expect(next.seq).toBe(300);
      expect(next.entry.prev).toBe(first[299]!.hash);
      const cp = await b.appender.checkpoint();
      expect(cp).toMatchObject({ index: 1, size: 301 });
      expect(await verifyStore(b.store, b.keys)).toMatchObject({ ok: true, entries: 301, checkpoints: 2 });
    } finally {
      await b.close();
    }
  });

  it('two appenders on one data dir (two Store instances) never fork: both chains verify', async () => {
    const a = await openChain(tmp.dir);
    const b = await openChain(tmp.dir, { keys: a.keys });
    try {
      const fromA: Promise<AppendedEnvelope>[] = [];
      const fromB: Promise<AppendedEnvelope>[] = [];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 80; i++) {
          fromA.push(a.appender.append(event(round * 1000 + i)));
          fromB.push(b.appender.append(event(round * 1000 + 500 + i)));
        }
        await new Promise((r) => setImmediate(r));
      }
      const seqs = [...(await Promise.all(fromA)), ...(await Promise.all(fromB))].map((x) => x.seq).sort((x, y) => x - y);
      expect(seqs).toEqual([...Array(960).keys()]);
      // Each appender's own acks stay in its call order.
      const aSeqs = (await Promise.all(fromA)).map((x) => x.seq);
      expect([...aSeqs].sort((x, y) => x - y)).toEqual(aSeqs);
      await a.appender.checkpoint();
      await b.appender.append(event(9999));
      await b.appender.checkpoint();
      expect(await verifyStore(a.store, a.keys)).toMatchObject({ ok: true, entries: 961 });
      // The second appender's tree caught up with the first's entries.
      expect(b.appender.size).toBe(961);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a store failure rejects only that batch; an append whose outcome was unknown but landed is acknowledged', async () => {
    const { store } = await openChain(tmp.dir).then(async (c) => {
      await c.appender.close();
      return c;
    });
    let mode: 'fail-before' | 'fail-after' | 'ok' = 'fail-before';
    const flaky: ChainStore = Object.create(store.chain) as ChainStore;
    flaky.append = async (after, rows) => {
      if (mode === 'fail-before') throw new Error('disk on fire');
      const r = await store.chain.append(after, rows);
      if (mode === 'fail-after') throw new Error('connection reset after commit');
      return r;
    };
    const { keysFor } = await import('./appender.helpers.js');
    const app = await ChainAppender.open({ chain: flaky, keys: keysFor(tmp.dir), checkpointIntervalMs: 0 });
    try {
      await expect(app.append(event(0))).rejects.toBeInstanceOf(ChainStoreError);
      expect(await store.chain.head()).toBeNull();
      mode = 'fail-after';
      expect((await app.append(event(1))).seq).toBe(0);
      mode = 'ok';
      expect((await app.append(event(2))).seq).toBe(1);
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('ChainAppender lingering appends', () => {
  /** A chain store that records the size of every batch written. */
  async function counting(lingerMs: number) {
    const c = await openChain(tmp.dir, { lingerMs, signingWorkers: 0 });
    const writes: number[] = [];
    const chain: ChainStore = Object.create(c.store.chain) as ChainStore;
    chain.append = async (after, rows) => {
      writes.push(rows.length);
      return c.store.chain.append(after, rows);
    };
    await c.appender.close();
    const app = await ChainAppender.open({ chain, keys: c.keys, checkpointIntervalMs: 0, lingerMs, signingWorkers: 0 });
    return { app, writes, store: c.store, keys: c.keys, close: async () => { await app.close(); await c.store.close(); } };
  }

  it('lingering entries wait for the next append that needs durability and land with it in one write, in order', async () => {
    // A linger far longer than the test: only the non-lingering append can have committed them.
    const c = await counting(600_000);
    try {
      const lingering = [0, 1, 2].map((i) => c.app.append(event(i), { linger: true }));
      const settled: number[] = [];
      lingering.forEach((p, i) => void p.then(() => settled.push(i)));
      await new Promise((r) => setTimeout(r, 20));
      expect(settled).toEqual([]); // not acknowledged: not durable yet
      expect(c.writes).toEqual([]);
      const last = await c.app.append(event(3));
      const acks = await Promise.all(lingering);
      expect(c.writes).toEqual([4]);
      expect([...acks.map((a) => a.seq), last.seq]).toEqual([0, 1, 2, 3]);
      expect(await verifyStore(c.store, c.keys)).toMatchObject({ ok: true, entries: 4 });
    } finally {
      await c.close();
    }
  });

  it('commitNow(), flush() and close() commit lingering entries without waiting for the linger', async () => {
    const c = await counting(600_000);
    try {
      const a = c.app.append(event(0), { linger: true });
      c.app.commitNow();
      expect((await a).seq).toBe(0);
      const b = c.app.append(event(1), { linger: true });
      await c.app.flush();
      expect((await b).seq).toBe(1);
      const d = c.app.append(event(2), { linger: true });
      await c.app.close();
      expect((await d).seq).toBe(2);
      expect(c.writes).toEqual([1, 1, 1]);
    } finally {
      await c.close();
    }
  });

  it('a lingering entry nobody asks for is still committed, after at most lingerMs', async () => {
    const c = await counting(5);
    try {
      const ack = await c.app.append(event(0), { linger: true });
      expect(ack.seq).toBe(0);
      expect(await c.store.chain.head()).toEqual({ seq: 0, hash: ack.hash });
    } finally {
      await c.close();
    }
  });

  it('refuses a negative or non-numeric lingerMs', async () => {
    const c = await openChain(tmp.dir);
    try {
      for (const lingerMs of [-1, Number.NaN]) {
        await expect(ChainAppender.open({ chain: c.store.chain, keys: c.keys, lingerMs })).rejects.toThrow(/lingerMs/);
      }
    } finally {
      await c.close();
    }
  });
});
