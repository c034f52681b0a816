// Passive instrumentation of the store, for health and metrics, without touching the modules that use it.
// The composition root (app.ts) hands the chain appender a watched ChainStore and the crash-recovery loop a
// watched Store; everything else keeps the store as is. The watches only time calls and note how they
// ended: no extra I/O, nothing read from the data, nothing that could change what the wrapped call does.
import { performance } from 'node:perf_hooks';
import type { ChainStore, Store } from '../store/port.js';

export type CommitResult = 'ok' | 'conflict' | 'error';

/**
 * A proxy of `target` whose property `name` is `replacement`; every other method is bound to the target
 * (adapters are classes: their methods need their own `this`). New port methods pass through untouched.
 */
function overriding<T extends object>(target: T, name: PropertyKey, replacement: unknown): T {
  return new Proxy(target, {
    get(t, prop) {
      if (prop === name) return replacement;
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** What the chain appender's store writes have been doing (one appender per process writes through it). */
export class ChainStoreWatch {
  /** Clock time the oldest unfinished append started; null when none is running. */
  inFlightSince: number | null = null;
  private inFlight = 0;
  /** Last time an append started or ended (stall detection). */
  lastActivityAt: number;
  lastOkAt: number | null = null;
  lastErrorAt: number | null = null;
  /** Class name of the last store error (never its message: it may name hosts or carry a connection string). */
  lastErrorName: string | null = null;
  /** Called after every append with its duration in seconds (metrics). */
  onCommit: ((seconds: number, result: CommitResult) => void) | null = null;

  constructor(private readonly now: () => number) {
    this.lastActivityAt = now();
  }

  /** The store the appender should write through. */
  wrap(chain: ChainStore): ChainStore {
    const append: ChainStore['append'] = async (after, entries) => {
      const t0 = performance.now();
      this.started();
      let result: CommitResult = 'error';
      try {
        const res = await chain.append(after, entries);
        result = res.ok ? 'ok' : 'conflict';
        return res;
      } catch (err) {
        this.lastErrorName = err instanceof Error ? err.name : typeof err;
        throw err;
      } finally {
        this.ended(result);
        this.onCommit?.((performance.now() - t0) / 1000, result);
      }
    };
    return overriding(chain, 'append', append);
  }

  /** True while the last append ended in an error and none succeeded since. */
  get failing(): boolean {
    return this.lastErrorAt !== null && (this.lastOkAt === null || this.lastErrorAt >= this.lastOkAt);
  }

  private started(): void {
    const now = this.now();
    if (this.inFlight++ === 0) this.inFlightSince = now;
    this.lastActivityAt = now;
  }

  private ended(result: CommitResult): void {
    const now = this.now();
    if (--this.inFlight === 0) this.inFlightSince = null;
    this.lastActivityAt = now;
    // A conflict is the store answering correctly (another writer moved the head): not a failure.
    if (result === 'error') this.lastErrorAt = now;
    else this.lastOkAt = now;
  }
}

/**
 * Whether the crash-recovery sweep can read the store. The sweep's only call that can fail it as a whole is
 * its listing of pending decisions (a failure on one decision is caught and logged per decision), so the
 * Store handed to the recovery loop notes how each listing ended. Only the recovery loop uses that Store.
 */
export class RecoveryWatch {
  lastOkAt: number | null = null;
  lastErrorAt: number | null = null;
  lastErrorName: string | null = null;

  constructor(private readonly now: () => number) {}

  wrap(store: Store): Store {
    const decisions = store.decisions;
    const list: Store['decisions']['list'] = async (filter, first, after) => {
      try {
        const page = await decisions.list(filter, first, after);
        this.lastOkAt = this.now();
        return page;
      } catch (err) {
        this.lastErrorAt = this.now();
        this.lastErrorName = err instanceof Error ? err.name : typeof err;
        throw err;
      }
    };
    return overriding(store, 'decisions', overriding(decisions, 'list', list));
  }

  get failing(): boolean {
    return this.lastErrorAt !== null && (this.lastOkAt === null || this.lastErrorAt >= this.lastOkAt);
  }
}
