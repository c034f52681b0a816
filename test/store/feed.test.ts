// The shared live feed (src/store/feed.ts) on an in-memory source: the change-stream path (offer) is
// exercised here too, since no MongoDB replica set is available to every run.
import { afterEach, describe, expect, it } from 'vitest';
import { SeqFeed, type FeedSource } from '../../src/store/feed.js';
import type { StoredEntry } from '../../src/store/port.js';
import { makeEntries, sleep, until } from './helpers.js';

class MemorySource implements FeedSource {
  rows: StoredEntry[] = [];
  reads = 0;
  /** Seqs that exist but are not visible yet (an insert still in flight elsewhere). */
  hidden = new Set<number>();
  async headSeq() {
    return this.rows.length - 1;
  }
  async read(from: number, limit: number) {
    this.reads++;
    return this.rows.filter((e) => e.seq >= from && !this.hidden.has(e.seq)).slice(0, limit);
  }
}

describe('SeqFeed', () => {
  const feeds: SeqFeed[] = [];
  afterEach(() => feeds.splice(0).forEach((f) => f.close()));
  const setup = (intervalMs = 20, pageSize = 4) => {
    const src = new MemorySource();
    const feed = new SeqFeed(src, { intervalMs, pageSize });
    feeds.push(feed);
    return { src, feed };
  };

  it('delivers a backlog in pages, then offered entries without reading', async () => {
    const { src, feed } = setup(10_000);
    src.rows = makeEntries(null, 10, 'a');
    const got: number[] = [];
    feed.watch(3, (b) => got.push(...b.map((e) => e.seq)));
    await until(() => got.length === 7, 2000, 'backlog');
    expect(got).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const readsBefore = src.reads;
    const more = makeEntries({ seq: 9, hash: src.rows[9]!.hash }, 2, 'b');
    src.rows.push(...more);
    feed.offer(more);
    await until(() => got.length === 9, 2000, 'offer');
    expect(got.slice(7)).toEqual([10, 11]);
    // The offer continued the run: one trailing read at most (to look past it), no re-delivery.
    expect(src.reads - readsBefore).toBeLessThanOrEqual(1);
    feed.offer(more);
    await sleep(30);
    expect(got).toHaveLength(9);
  });

  it('fills a gap by reading, and never skips an entry that becomes visible late', async () => {
    const { src, feed } = setup(15);
    const all = makeEntries(null, 6, 'a');
    src.rows = all.slice(0, 2);
    const got: number[] = [];
    feed.watch(0, (b) => got.push(...b.map((e) => e.seq)));
    await until(() => got.length === 2, 2000, 'backlog');
    // Entry 2 is committed but not visible yet; 3..5 are, and arrive as an event first.
    src.rows = all;
    src.hidden.add(2);
    feed.offer(all.slice(3));
    await sleep(60);
    expect(got).toEqual([0, 1]);
    src.hidden.clear();
    await until(() => got.length === 6, 2000, 'gap filled by polling');
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('serves several watchers independently and stops a closed one', async () => {
    const { src, feed } = setup(10);
    src.rows = makeEntries(null, 3, 'a');
    const a: number[] = [];
    const b: number[] = [];
    const wa = feed.watch(0, (x) => a.push(...x.map((e) => e.seq)));
    feed.watch(2, (x) => b.push(...x.map((e) => e.seq)));
    await until(() => a.length === 3 && b.length === 1, 2000, 'both');
    wa.close();
    src.rows.push(...makeEntries({ seq: 2, hash: src.rows[2]!.hash }, 2, 'b'));
    feed.wake();
    await until(() => b.length === 3, 2000, 'b');
    await sleep(40);
    expect(a).toEqual([0, 1, 2]);
    expect(b).toEqual([2, 3, 4]);
    expect(feed.size).toBe(1);
  });

  it('reports read errors and keeps going', async () => {
    const { src, feed } = setup(10);
    src.rows = makeEntries(null, 2, 'a');
    let fail = true;
    const read = src.read.bind(src);
    src.read = async (from, limit) => {
      if (fail) throw new Error('connection reset');
      return read(from, limit);
    };
    const got: number[] = [];
    const errors: string[] = [];
    feed.watch(0, (x) => got.push(...x.map((e) => e.seq)), (e) => errors.push(e.message));
    await until(() => errors.length > 0, 2000, 'an error');
    fail = false;
    await until(() => got.length === 2, 2000, 'recovery');
    expect(got).toEqual([0, 1]);
    expect(errors[0]).toBe('connection reset');
  });
});
