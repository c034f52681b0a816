// Passive instrumentation of the store, for health and metrics, without touching the modules that use it.
// The composition root (app.ts) hands the chain appender a watched ChainStore and the crash-recovery loop a
// watched Store; everything else keeps the store as is. The watches only time calls and note how they
// ended: no extra I/O, nothing read from the data, nothing that could change what the wrapped call does.
import { performance } from 'node:perf_hooks';
import { observeSweeps, type SweepObserver } from '../gateway/recovery.js';
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
 * Whether the crash-recovery sweep can use the store, judged one sweep at a time. The Store handed to the
 * recovery loop (and only to it) notes every call that fails, per method (`decisions.list`,
 * `accounts.settleHold`, ...), and the sweep says where it begins and ends (observeSweeps): each finished
 * sweep's outcome - the calls that failed in it, or its own error - replaces the previous one. A failure
 * is therefore over as soon as a sweep runs clean, even when the failing call only runs when there is
 * something to recover (a claim or a settle that failed, then nothing left to claim, used to stick).
 */
export class RecoveryWatch implements SweepObserver {
  /** The last finished sweep's failed calls. */
  private reported = new Set<string>();
  private reportedErrorName: string | null = null;
  /** The running sweep's failed calls; null between sweeps. */
  private current: Set<string> | null = null;
  private currentErrorName: string | null = null;

  wrap(store: Store): Store {
    const watched = new Map<PropertyKey, unknown>();
    for (const area of ['decisions', 'accounts', 'chain', 'stats'] as const) watched.set(area, this.watchArea(area, store[area]));
    const wrapped = new Proxy(store, {
      get(t, prop) {
        if (watched.has(prop)) return watched.get(prop);
        const v: unknown = Reflect.get(t, prop, t);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    observeSweeps(wrapped, this);
    return wrapped;
  }

  /** True while the last finished sweep had a store call fail (or threw). */
  get failing(): boolean {
    return this.reported.size > 0;
  }

  /** Class name of an error of the last finished sweep (never its message). */
  get lastErrorName(): string | null {
    return this.reportedErrorName;
  }

  sweepStarted(): void {
    this.current = new Set();
    this.currentErrorName = null;
  }

  sweepEnded(error: unknown): void {
    const failed = this.current ?? new Set<string>();
    let name = this.currentErrorName;
    if (error !== null) {
      failed.add('sweep');
      name ??= errorName(error);
    }
    this.reported = failed;
    this.reportedErrorName = failed.size > 0 ? name : null;
    this.current = null;
  }

  private watchArea<T extends object>(area: string, target: T): T {
    return new Proxy(target, {
      get: (t, prop) => {
        const v: unknown = Reflect.get(t, prop, t);
        if (typeof v !== 'function') return v;
        const name = `${area}.${String(prop)}`;
        return (...args: unknown[]) => {
          let out: unknown;
          try {
            out = (v as (...a: unknown[]) => unknown).apply(t, args);
          } catch (err) {
            this.ended(name, false, err);
            throw err;
          }
          if (!(out instanceof Promise)) return out;
          return out.then(
            (value: unknown) => {
              this.ended(name, true, null);
              return value;
            },
            (err: unknown) => {
              this.ended(name, false, err);
              throw err;
            },
          );
        };
      },
    });
  }

  private ended(name: string, ok: boolean, err: unknown): void {
    if (this.current) {
      // Inside a sweep: part of its outcome, reported when it ends.
      if (!ok) {
        this.current.add(name);
        this.currentErrorName = errorName(err);
      }
      return;
    }
    // A call outside any sweep (none is expected): judged per method, as the best available.
    if (ok) {
      this.reported.delete(name);
      if (this.reported.size === 0) this.reportedErrorName = null;
    } else {
      this.reported.add(name);
      this.reportedErrorName = errorName(err);
    }
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
