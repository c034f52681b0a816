// The chain feed behind chainEvents, on a real SQLite store with the real appender: replay then live with
// no gap and no duplicate whatever the timing, filters, and the bound on a subscriber that stops reading.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainFeed, SLOW_SUBSCRIBER_CODE, type FeedEvent } from '../../src/api/feed.js';
import { ChainAppender } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/port.js';

let dir: string;
let store: Store;
let appender: ChainAppender;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ainfera-feed-'));
  store = await openStore({ kind: 'embedded', dataDir: dir });
  const keys = loadSigningKeys({ dataDir: dir, create: true, env: {}, origin: 'test.ainfera/feed' });
  appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 50, signingWorkers: 0 });
});

afterEach(async () => {
  await appender.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function append(n: number, agent = 'feed-a', kind = 'probe'): Promise<unknown> {
  return Promise.all(Array.from({ length: n }, (_, i) => appender.append({ kind, agent, decision: `d${i % 7}`, fields: { i } })));
}

/** Pulls from the iterator until `count` events arrived (or it ends), returning their seqs. */
async function take(it: AsyncIterableIterator<FeedEvent>, count: number): Promise<number[]> {
  const seqs: number[] = [];
  while (seqs.length < count) {
    const r = await it.next();
    if (r.done) break;
    seqs.push(r.value.entry.seq);
  }
  return seqs;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('ChainFeed', () => {
  it('replays from any seq then goes live with no gap and no duplicate while appends run concurrently', async () => {
    const feed = new ChainFeed(store.chain, { bufferLimit: 10_000, pageSize: 64 });
    await feed.start();
    await append(300);
    const total = 1500;
    // Appends keep landing in small bursts while subscribers join at different points.
    const appending = (async () => {
      for (let done = 300; done < total; done += 60) {
        await append(60);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const subs: { from: number; it: AsyncIterableIterator<FeedEvent> }[] = [];
    for (const from of [0, 17, 150, 299, 300]) subs.push({ from, it: await feed.subscribe({ fromSeq: from }) });
    await new Promise((r) => setTimeout(r, 5));
    const head = await store.chain.head();
    const live = await feed.subscribe({});
    subs.push({ from: head ? head.seq + 1 : 0, it: live });
    await appending;
    for (const s of subs) {
      const got = await take(s.it, total - s.from);
      expect(got, `from ${s.from}`).toEqual(range(s.from, total));
      await s.it.return!();
    }
    expect(feed.size).toBe(0);
    feed.close();
  });

  it('filters by agent and kinds without reordering', async () => {
    const feed = new ChainFeed(store.chain, { bufferLimit: 1000 });
    await feed.start();
    await append(10, 'feed-a', 'probe');
    await append(10, 'feed-b', 'probe');
    await append(5, 'feed-b', 'other');
    const it = await feed.subscribe({ fromSeq: 0, agent: 'feed-b', kinds: ['other'] });
    const got: FeedEvent[] = [];
    for (let i = 0; i < 5; i++) got.push((await it.next()).value as FeedEvent);
    expect(got.map((e) => e.entry.seq)).toEqual(range(20, 25));
    for (const e of got) expect(e.entry).toMatchObject({ agent: 'feed-b', kind: 'other' });
    await it.return!();
    feed.close();
  });

  it('cuts off a live subscriber that stops reading, with an error naming where to resume; others keep up', async () => {
    const feed = new ChainFeed(store.chain, { bufferLimit: 100 });
    await feed.start();
    const slow = await feed.subscribe({});
    const fast = await feed.subscribe({});
    // The fast one reads as entries come; the slow one reads one entry and then stops.
    const fastSeqs = take(fast, 401);
    const first = append(1);
    expect((await slow.next()).value?.entry.seq).toBe(0);
    await first;
    for (let i = 0; i < 40; i++) {
      await append(10);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await fastSeqs).toEqual(range(0, 401));
    expect(feed.size).toBe(1);
    await expect(slow.next()).rejects.toMatchObject({ extensions: { code: SLOW_SUBSCRIBER_CODE, resumeFromSeq: 1 } });
    expect((await slow.next()).done).toBe(true);
    await fast.return!();
    feed.close();
  });

  it('never errors a subscriber that is still replaying: the backlog comes from the store', async () => {
    await append(400);
    const feed = new ChainFeed(store.chain, { bufferLimit: 10, pageSize: 50 });
    await feed.start();
    const it = await feed.subscribe({ fromSeq: 0 });
    const reading = take(it, 900);
    await append(500);
    expect(await reading).toEqual(range(0, 900));
    await it.return!();
    feed.close();
  });

  it('watches the store only while a subscriber is attached, and stays gap-free across stops and restarts', async () => {
    // Count the store watches the feed opens and how many are open.
    let opened = 0;
    let open = 0;
    const chain = Object.create(store.chain) as typeof store.chain;
    chain.watch = (from, onEntries, onError) => {
      opened++;
      open++;
      const w = store.chain.watch(from, onEntries, onError);
      let closed = false;
      return {
        close() {
          if (!closed) open--;
          closed = true;
          w.close();
        },
      };
    };
    const feed = new ChainFeed(chain, { bufferLimit: 1000, pageSize: 16 });
    await feed.start();
    await append(50);
    expect(opened).toBe(0);
    expect(feed.watching).toBe(false);

    const a = await feed.subscribe({ fromSeq: 10 });
    const b = await feed.subscribe({});
    expect([opened, open, feed.watching]).toEqual([1, 1, true]);
    const aSeqs = take(a, 70);
    const bSeqs = take(b, 30);
    await append(30);
    expect(await aSeqs).toEqual(range(10, 80));
    expect(await bSeqs).toEqual(range(50, 80));
    await a.return!();
    expect(open).toBe(1); // b is still attached
    await b.return!();
    expect([open, feed.watching, feed.size]).toEqual([0, false, 0]);

    // Appends while nobody listens, then a new subscriber resumes exactly where b stopped and goes live.
    await append(40);
    expect(opened).toBe(1);
    const c = await feed.subscribe({ fromSeq: 80 });
    expect([opened, open]).toEqual([2, 1]);
    const cSeqs = take(c, 100);
    for (let i = 0; i < 6; i++) {
      await append(10);
      await new Promise((r) => setImmediate(r));
    }
    expect(await cSeqs).toEqual(range(80, 180));
    await c.return!();
    expect(open).toBe(0);
    feed.close();
  });

  it('a subscriber joining while the last one leaves keeps the watch open and misses nothing', async () => {
    const feed = new ChainFeed(store.chain, { bufferLimit: 1000 });
    await feed.start();
    const first = await feed.subscribe({});
    const joining = feed.subscribe({ fromSeq: 0 });
    await first.return!();
    const second = await joining;
    expect(feed.watching).toBe(true);
    const seqs = take(second, 25);
    await append(25);
    expect(await seqs).toEqual(range(0, 25));
    await second.return!();
    expect(feed.watching).toBe(false);
    feed.close();
  });

  it('ends every subscription on close', async () => {
    const feed = new ChainFeed(store.chain, { bufferLimit: 100 });
    await feed.start();
    const it = await feed.subscribe({});
    const pending = it.next();
    feed.close();
    expect((await pending).done).toBe(true);
    await expect(feed.subscribe({})).rejects.toThrow(/shutting down/);
  });
});
