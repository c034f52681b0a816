// The live feed: the chainEvents subscription over graphql-ws, resumed from the first seq not yet seen
// after any drop (socket closed, server restart, "too slow" cut-off), so the trace has no gap and no
// duplicate. Reconnection is ours, not graphql-ws's: its built-in retry re-sends the ORIGINAL fromSeq,
// which would replay everything since the page opened.
import { createClient, type Client } from 'graphql-ws';
import type { ChainEntry } from '../../chain/types.js';

export interface ChainEvent {
  seq: number;
  entry: ChainEntry;
  hash: string;
  sig: string;
  keyId: string;
  checkpointHeight: number | null;
  checkpointSize: number | null;
}

export type FeedState = 'connecting' | 'live' | 'reconnecting';

export interface LiveFeedOptions {
  /** ws:// or wss:// URL of /graphql. */
  url: string;
  /** First seq to deliver. */
  fromSeq: number;
  onEvent(ev: ChainEvent): void;
  onState(state: FeedState, detail: { attempt: number; error?: string }): void;
  /** Backoff bounds, ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export const CHAIN_EVENTS = /* GraphQL */ `
  subscription ChainEvents($fromSeq: SafeInt) {
    chainEvents(fromSeq: $fromSeq) { seq entry hash sig keyId checkpointHeight checkpointSize }
  }
`;

function describe(err: unknown): string {
  if (Array.isArray(err)) return err.map((e: { message?: string }) => e?.message ?? String(e)).join('; ');
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err) {
    const ce = err as { code: number; reason: string };
    return `socket closed (${ce.code}${ce.reason ? `: ${ce.reason}` : ''})`;
  }
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'type' in err) return `socket ${(err as { type: string }).type}`;
  return String(err);
}

export class LiveFeed {
  private next: number;
  private client: Client | null = null;
  private unsubscribe: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;
  /** Bumped per subscription so callbacks of a dropped one are ignored. */
  private generation = 0;

  constructor(private readonly opts: LiveFeedOptions) {
    this.next = opts.fromSeq;
  }

  /** The first seq not delivered yet: where a resumed subscription starts. */
  get nextSeq(): number {
    return this.next;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.teardown();
  }

  private teardown(): void {
    this.generation++;
    const unsub = this.unsubscribe;
    const client = this.client;
    this.unsubscribe = null;
    this.client = null;
    try {
      unsub?.();
    } catch {
      // already closed
    }
    void client?.dispose();
  }

  private connect(): void {
    const gen = ++this.generation;
    this.opts.onState(this.attempt === 0 ? 'connecting' : 'reconnecting', { attempt: this.attempt });
    const client = createClient({
      url: this.opts.url,
      lazy: true,
      retryAttempts: 0,
      keepAlive: 15_000,
      on: {
        connected: () => {
          if (gen !== this.generation) return;
          this.attempt = 0;
          this.opts.onState('live', { attempt: 0 });
        },
      },
    });
    this.client = client;
    const from = this.next;
    this.unsubscribe = client.subscribe<{ chainEvents: ChainEvent }>(
      { query: CHAIN_EVENTS, variables: { fromSeq: from } },
      {
        next: (msg) => {
          if (gen !== this.generation) return;
          const ev = msg.data?.chainEvents;
          if (!ev) {
            if (msg.errors?.length) this.drop(gen, msg.errors);
            return;
          }
          if (ev.seq < this.next) return; // a duplicate across a resume: already delivered
          if (ev.seq > this.next) {
            // The server promises no gap; if one shows, refuse to paper over it: resubscribe from the hole.
            this.drop(gen, new Error(`gap in the feed: expected seq ${this.next}, got ${ev.seq}`));
            return;
          }
          this.next = ev.seq + 1;
          this.opts.onEvent(ev);
        },
        error: (err) => this.drop(gen, err),
        complete: () => this.drop(gen, new Error('subscription ended')),
      },
    );
  }

  private drop(gen: number, err: unknown): void {
    if (gen !== this.generation || this.stopped) return;
    this.teardown();
    this.attempt++;
    const min = this.opts.minDelayMs ?? 250;
    const max = this.opts.maxDelayMs ?? 5_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.attempt - 1, 10)) * (0.75 + Math.random() * 0.5);
    this.opts.onState('reconnecting', { attempt: this.attempt, error: describe(err) });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }
}
