// The chain feed behind the chainEvents subscription: ONE store.chain.watch per process, fanned out to
// every subscriber. Fan-out is a synchronous push into each subscriber's bounded queue, so a slow
// subscriber never slows the appender (the watch callback) or the other subscribers.
//
// The watch runs only while at least one subscriber is attached (opened by the first, closed when the
// last leaves): with nobody listening, reading every appended entry back from the store was ~10% of the
// main thread per call at saturation (bench:overhead profile) for nothing. Starting late cannot open a
// gap: a subscriber never relies on the watch for completeness (see below), only for promptness.
//
// Each subscriber tracks `next`, the first seq it has not delivered, and delivers only seq === next:
//   - replay: paged store reads from `next` until a read comes back empty;
//   - live: entries pushed by the shared watch; ones below `next` are dropped (duplicates across the
//     switch), and a jump above `next` is filled from the store first (a gap across the switch).
// So the stream is gap-free and duplicate-free whatever the timing of replay versus live.
//
// Bounding: while replaying, live entries beyond the buffer limit are simply dropped (the store has them;
// replay reads them later). Once live, a queue over the limit means the consumer cannot keep up: the
// subscription ends with a clear error instead of buffering without bound.
import { GraphQLError } from 'graphql';
import { logger } from '../log.js';
import type { ChainStore, EntryWatch, StoredCheckpoint, StoredEntry } from '../store/port.js';

export interface FeedOptions {
  /** Max live entries queued per subscriber before it is cut off (config.api.subscriberBufferLimit). */
  bufferLimit: number;
  /** Entries per replay read. */
  pageSize?: number;
  /** How often the cached latest checkpoint is refreshed while entries flow, ms. */
  checkpointRefreshMs?: number;
}

export interface SubscribeOptions {
  /** First seq to deliver; undefined: from the current head on (live only). */
  fromSeq?: number;
  /** Delivered entries only for this agent handle (others are skipped, the position still advances). */
  agent?: string;
  /** Delivered entries only of these kinds. */
  kinds?: readonly string[];
}

/** One delivered entry plus the latest checkpoint known at delivery (it may not cover the entry yet). */
export interface FeedEvent {
  entry: StoredEntry;
  checkpoint: Pick<StoredCheckpoint, 'index' | 'size'> | null;
}

export const SLOW_SUBSCRIBER_CODE = 'SUBSCRIBER_TOO_SLOW';

export class ChainFeed {
  private readonly subs = new Set<FeedSubscription>();
  private watch: EntryWatch | null = null;
  private started: Promise<void> | null = null;
  /** The watch being opened (head read in flight), if any. */
  private opening: Promise<void> | null = null;
  private closed = false;
  /** Last seq the shared watch delivered. */
  private delivered = -1;
  private checkpoint: StoredCheckpoint | null = null;
  private checkpointReadAt = 0;
  private checkpointReading = false;
  readonly pageSize: number;
  readonly bufferLimit: number;
  private readonly checkpointRefreshMs: number;

  constructor(
    readonly store: ChainStore,
    opts: FeedOptions,
  ) {
    this.bufferLimit = opts.bufferLimit;
    this.pageSize = opts.pageSize ?? 256;
    this.checkpointRefreshMs = opts.checkpointRefreshMs ?? 250;
  }

  /** Subscribers currently attached (for tests and /health). */
  get size(): number {
    return this.subs.size;
  }

  /** Subscribers' store watch is open (for tests and /health). */
  get watching(): boolean {
    return this.watch !== null;
  }

  /**
   * Ready the feed: reads the latest checkpoint. Idempotent. The store watch itself is opened by the
   * first subscriber and closed after the last (see the header).
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      const cp = await this.store.latestCheckpoint();
      this.checkpointReadAt = Date.now();
      if (cp && (!this.checkpoint || cp.size > this.checkpoint.size)) this.checkpoint = cp;
    })();
    return this.started;
  }

  /** The async iterator a subscription resolver returns. */
  async subscribe(opts: SubscribeOptions = {}): Promise<AsyncIterableIterator<FeedEvent>> {
    if (this.closed) throw new GraphQLError('the server is shutting down', { extensions: { code: 'SHUTTING_DOWN' } });
    await this.start();
    let from = opts.fromSeq;
    if (from === undefined) {
      const head = await this.store.head();
      from = head ? head.seq + 1 : 0;
    }
    const sub = new FeedSubscription(this, from, opts);
    // Counted before the watch opens, so a last subscriber leaving meanwhile does not close it under us.
    this.subs.add(sub);
    try {
      await this.openWatch();
    } catch (err) {
      this.remove(sub);
      throw err;
    }
    return sub;
  }

  /**
   * Opens the shared watch at the current head unless it is open. Entries appended before that are the
   * subscribers' replay (paged store reads), so the stream stays gap-free whenever the watch starts.
   */
  private openWatch(): Promise<void> {
    if (this.watch || this.closed) return Promise.resolve();
    this.opening ??= (async () => {
      try {
        const head = await this.store.head();
        // Everyone may have left (or the feed closed) while the head was read.
        if (this.watch || this.closed || this.subs.size === 0) return;
        this.delivered = head ? head.seq : -1;
        this.watch = this.store.watch(
          head ? head.seq + 1 : 0,
          (entries) => this.fanOut(entries),
          (err) => logger.warn({ err }, 'chain feed: watch error (subscribers fill gaps from the store)'),
        );
        // Checkpoints of other processes were not followed while nobody listened.
        this.maybeRefreshCheckpoint();
      } finally {
        this.opening = null;
      }
    })();
    return this.opening;
  }

  /** Closes the shared watch once no subscriber is attached. */
  private closeWatchIfIdle(): void {
    if (this.subs.size > 0 || !this.watch) return;
    this.watch.close();
    this.watch = null;
  }

  /** A checkpoint was just cut (this process's appender): later events carry it at once. */
  noteCheckpoint(cp: StoredCheckpoint): void {
    if (!this.checkpoint || cp.size > this.checkpoint.size) this.checkpoint = cp;
  }

  /** Latest checkpoint known (this process's cuts at once, other processes' refreshed while entries flow). */
  latestCheckpoint(): StoredCheckpoint | null {
    return this.checkpoint;
  }

  /**
   * Shutdown, step 1: waits (bounded) until the watch has delivered everything durable up to the current
   * head, so subscribers get the entries of calls that finished during shutdown.
   */
  async settle(timeoutMs = 2_000): Promise<void> {
    if (!this.watch) return;
    const head = await this.store.head();
    const deadline = Date.now() + timeoutMs;
    while (head && this.delivered < head.seq && this.watch && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  /** Shutdown, step 2: stops the watch; each subscription hands over what it already holds, then completes. */
  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = null;
    for (const s of [...this.subs]) s.end();
  }

  /** Shutdown, step 3: waits (bounded) until every subscription has completed. */
  async idle(timeoutMs = 1_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.subs.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  /** @internal */
  remove(sub: FeedSubscription): void {
    this.subs.delete(sub);
    this.closeWatchIfIdle();
  }

  private fanOut(entries: StoredEntry[]): void {
    const last = entries[entries.length - 1];
    if (last) this.delivered = last.seq;
    for (const s of this.subs) s.push(entries);
    this.maybeRefreshCheckpoint();
  }

  private maybeRefreshCheckpoint(): void {
    const now = Date.now();
    if (this.checkpointReading || now - this.checkpointReadAt < this.checkpointRefreshMs) return;
    this.checkpointReading = true;
    this.checkpointReadAt = now;
    this.store
      .latestCheckpoint()
      .then((cp) => {
        if (cp && (!this.checkpoint || cp.size > this.checkpoint.size)) this.checkpoint = cp;
      })
      .catch((err: unknown) => logger.warn({ err }, 'chain feed: checkpoint read failed'))
      .finally(() => {
        this.checkpointReading = false;
      });
  }
}

class FeedSubscription implements AsyncIterableIterator<FeedEvent> {
  private next_: number;
  /** Live entries pushed by the shared watch, not yet delivered. */
  private queue: StoredEntry[] = [];
  private queueHead = 0;
  /** Entries read from the store, to deliver before anything else. */
  private pending: StoredEntry[] = [];
  private replaying = true;
  private overflowed = false;
  private ending = false;
  private done = false;
  private wake: (() => void) | null = null;
  private readonly kinds: Set<string> | null;

  constructor(
    private readonly feed: ChainFeed,
    fromSeq: number,
    private readonly opts: SubscribeOptions,
  ) {
    this.next_ = fromSeq;
    this.kinds = opts.kinds && opts.kinds.length > 0 ? new Set(opts.kinds) : null;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Called synchronously by the feed's fan-out: O(entries), never awaits. */
  push(entries: StoredEntry[]): void {
    if (this.done) return;
    // Over the limit = this many entries were already waiting unread when more arrived (so a reader that
    // keeps up never trips it, whatever the size of one delivery); memory stays under limit + one batch.
    const queued = this.queue.length - this.queueHead;
    if (queued >= this.feed.bufferLimit) {
      if (this.replaying) {
        // Still catching up from the store: drop the live copies, replay will read them.
        this.queue = [];
        this.queueHead = 0;
        return;
      }
      this.overflowed = true;
      this.queue = [];
      this.queueHead = 0;
      this.feed.remove(this);
      this.signal();
      return;
    }
    for (const e of entries) this.queue.push(e);
    this.signal();
  }

  /** Ends the stream normally (shutdown): entries already held are still delivered, then it completes. */
  end(): void {
    this.ending = true;
    this.signal();
  }

  async next(): Promise<IteratorResult<FeedEvent>> {
    for (;;) {
      if (this.done) return { done: true, value: undefined };
      const ready = this.pending.shift();
      if (ready) {
        if (this.matches(ready)) return { done: false, value: this.event(ready) };
        continue;
      }
      if (this.overflowed) {
        this.finish();
        throw new GraphQLError(
          `chainEvents: this subscriber fell more than ${this.feed.bufferLimit} entries behind the live chain and was closed; ` +
            `resubscribe with fromSeq: ${this.next_} to resume without a gap`,
          { extensions: { code: SLOW_SUBSCRIBER_CODE, resumeFromSeq: this.next_ } },
        );
      }
      if (this.ending && this.replaying) {
        this.finish();
        continue;
      }
      if (this.replaying) {
        const page = await this.read(this.next_, this.feed.pageSize);
        if (page.length === 0) this.replaying = false;
        continue;
      }
      // Live: drop duplicates, fill a gap from the store, deliver in order.
      while (this.queueHead < this.queue.length && this.queue[this.queueHead]!.seq < this.next_) this.queueHead++;
      if (this.queueHead < this.queue.length) {
        const e = this.queue[this.queueHead]!;
        if (e.seq > this.next_) {
          const got = await this.read(this.next_, Math.min(this.feed.pageSize, e.seq - this.next_));
          if (got.length === 0) {
            // Cannot happen on a gap-free chain (every seq below a durable one is durable); retry shortly.
            await new Promise((r) => setTimeout(r, 10));
          }
          continue;
        }
        this.queueHead++;
        this.compact();
        this.next_ = e.seq + 1;
        if (this.matches(e)) return { done: false, value: this.event(e) };
        continue;
      }
      if (this.ending) {
        this.finish();
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<FeedEvent>> {
    this.finish();
    this.signal();
    return { done: true, value: undefined };
  }

  async throw(err?: unknown): Promise<IteratorResult<FeedEvent>> {
    this.finish();
    this.signal();
    throw err;
  }

  /** Store read from `from`; appends the contiguous run to `pending` and advances `next`. */
  private async read(from: number, limit: number): Promise<StoredEntry[]> {
    const rows = await this.feed.store.entries(from, limit);
    const run: StoredEntry[] = [];
    let expected = from;
    for (const r of rows) {
      if (r.seq !== expected) break;
      run.push(r);
      expected++;
    }
    if (this.done || from !== this.next_) return [];
    for (const r of run) this.pending.push(r);
    this.next_ = expected;
    return run;
  }

  private matches(e: StoredEntry): boolean {
    if (this.opts.agent !== undefined && e.agent !== this.opts.agent) return false;
    if (this.kinds && !this.kinds.has(e.kind)) return false;
    return true;
  }

  private event(entry: StoredEntry): FeedEvent {
    const cp = this.feed.latestCheckpoint();
    return { entry, checkpoint: cp ? { index: cp.index, size: cp.size } : null };
  }

  private compact(): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.pending = [];
    this.feed.remove(this);
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
