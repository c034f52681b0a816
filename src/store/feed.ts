// The live feed behind ChainStore.watch, shared by both adapters.
//
// Every watcher keeps its own position (`next`, the first seq it has not seen) and only ever delivers a
// gap-free run starting exactly at `next`, so delivery is exactly-once and in order whatever the source
// does. Sources of new entries:
//   - reads by seq (`seq >= next`, indexed, a page at a time): the backlog, and whenever woken;
//   - a timer that compares the stored head with each watcher's position (polling: 25-50 ms; with a
//     change stream, a slow safety net);
//   - `wake()` after an append in this process, and `offer(entries)` with entries that just became
//     durable (change-stream events), delivered without a read when they continue a watcher's run.
// Each watcher's work runs on its own promise queue, so a read and an offer never interleave.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EntryWatch, StoredEntry } from './port.js';

export interface FeedSource {
  /** Highest seq that may be readable now (-1 on an empty chain). */
  headSeq(): Promise<number>;
  /** Up to `limit` entries with seq >= fromSeq, in seq order. Gaps are tolerated (the feed stops at one). */
  read(fromSeq: number, limit: number): Promise<StoredEntry[]>;
}

interface Watcher {
  next: number;
  closed: boolean;
  pumpQueued: boolean;
  queue: Promise<void>;
  onEntries: (entries: StoredEntry[]) => void;
  onError: ((err: Error) => void) | undefined;
}

export interface SeqFeedOptions {
  intervalMs: number;
  pageSize?: number;
  /** Called when the first watcher arrives / the last one leaves (start or stop a change stream). */
  onActive?: () => void;
  onIdle?: () => void;
}

export class SeqFeed {
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private closed = false;
  private intervalMs: number;
  private readonly pageSize: number;

  constructor(
    private readonly source: FeedSource,
    private readonly opts: SeqFeedOptions,
  ) {
    this.intervalMs = opts.intervalMs;
    this.pageSize = opts.pageSize ?? 512;
  }

  get size(): number {
    return this.watchers.size;
  }

  watch(fromSeq: number, onEntries: (entries: StoredEntry[]) => void, onError?: (err: Error) => void): EntryWatch {
    if (this.closed) throw new Error('store is closed');
    const w: Watcher = { next: fromSeq, closed: false, pumpQueued: false, queue: Promise.resolve(), onEntries, onError };
    this.watchers.add(w);
    if (this.watchers.size === 1) {
      this.startTimer();
      this.opts.onActive?.();
    }
    this.pump(w); // backlog first
    return {
      close: () => {
        if (w.closed) return;
        w.closed = true;
        this.watchers.delete(w);
        if (this.watchers.size === 0) {
          this.stopTimer();
          this.opts.onIdle?.();
        }
      },
    };
  }

  /** Change the polling interval (fast polling vs. the safety net beside a change stream). */
  setInterval(ms: number): void {
    if (ms === this.intervalMs) return;
    this.intervalMs = ms;
    if (this.timer) {
      this.stopTimer();
      this.startTimer();
    }
  }

  /** Something was appended: every watcher reads from its position. */
  wake(): void {
    for (const w of this.watchers) this.pump(w);
  }

  /** Entries that just became durable, in seq order: delivered directly when they continue a watcher's run. */
  offer(entries: StoredEntry[]): void {
    if (entries.length === 0) return;
    for (const w of this.watchers) {
      this.enqueue(w, async () => {
        const first = entries[0];
        if (!first) return;
        if (first.seq > w.next) {
          // A gap before these (missed or not-yet-visible entries): read by seq instead.
          await this.readUp(w);
          return;
        }
        const run = contiguousFrom(entries, w.next);
        if (run.length > 0) this.deliver(w, run);
        // Entries beyond a gap inside the offer: let a read pick them up once the gap fills.
        if (entries[entries.length - 1]!.seq >= w.next) await this.readUp(w);
      });
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.closed = true;
    this.watchers.clear();
    this.stopTimer();
  }

  private startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    // The feed never keeps a process alive on its own.
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.watchers.size === 0) return;
    this.ticking = true;
    try {
      const head = await this.source.headSeq();
      for (const w of this.watchers) if (w.next <= head) this.pump(w);
    } catch (err) {
      for (const w of this.watchers) report(w, err);
    } finally {
      this.ticking = false;
    }
  }

  /** Queue a read for `w` unless one is already waiting (a read that has started still gets a follow-up). */
  private pump(w: Watcher): void {
    if (w.pumpQueued || w.closed) return;
    w.pumpQueued = true;
    this.enqueue(w, async () => {
      w.pumpQueued = false;
      await this.readUp(w);
    });
  }

  private enqueue(w: Watcher, op: () => Promise<void>): void {
    w.queue = w.queue.then(async () => {
      if (w.closed) return;
      try {
        await op();
      } catch (err) {
        report(w, err);
      }
    });
  }

  /** Read pages from `w.next` until a short page or a gap. */
  private async readUp(w: Watcher): Promise<void> {
    for (;;) {
      if (w.closed) return;
      const rows = await this.source.read(w.next, this.pageSize);
      if (w.closed) return;
      const run = contiguousFrom(rows, w.next);
      if (run.length > 0) this.deliver(w, run);
      if (run.length < this.pageSize) return;
      // A long backlog: let other work run between pages.
      await yieldToLoop();
    }
  }

  private deliver(w: Watcher, run: StoredEntry[]): void {
    w.next = run[run.length - 1]!.seq + 1;
    try {
      w.onEntries(run);
    } catch (err) {
      // The subscriber's failure is its own: the entries count as delivered, the feed goes on.
      report(w, err);
    }
  }
}

/** The gap-free run of `entries` that starts exactly at `next` (entries below `next` are skipped). */
function contiguousFrom(entries: readonly StoredEntry[], next: number): StoredEntry[] {
  const out: StoredEntry[] = [];
  let expected = next;
  for (const e of entries) {
    if (e.seq < expected) continue;
    if (e.seq !== expected) break;
    out.push(e);
    expected++;
  }
  return out;
}

function report(w: Watcher, err: unknown): void {
  if (w.closed || !w.onError) return;
  try {
    w.onError(err instanceof Error ? err : new Error(String(err)));
  } catch {
    // an onError that throws has nowhere left to report to
  }
}
