// Availability breaker per (provider, model).
// closed ──K consecutive failures | windowed failure rate | 429 | auth──▶ open(until)
// open ──now ≥ until──▶ half_open ──one probe──▶ closed (it answered) | open (it failed, longer cooldown)
// A 429 (or 503) with Retry-After opens until exactly that time. Half-open lets exactly one caller
// through (tryAcquire) until that probe reports; a probe that never reports frees its slot after a lease.
// Only provider errors count as failures here: a refusal or invalid output means the provider is up.
import type { AttemptOutcome, BreakerSnapshot, BreakerState, BreakerTransition } from './types.js';

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  consecutiveFailures?: number;
  /** Window for the failure rate: at most this many recent attempts, none older than windowMs. */
  windowSize?: number;
  windowMs?: number;
  /** Attempts in the window needed before the rate counts. */
  minWindowSamples?: number;
  /** Failure share (0..1) in the window that opens the breaker. */
  failureRate?: number;
  /** First cooldown after opening on failures; doubles on each re-open without a close, up to max. */
  baseCooldownMs?: number;
  maxCooldownMs?: number;
  /** Cooldown after a 429 with no Retry-After (doubles likewise). */
  rateLimitCooldownMs?: number;
  /** Longest Retry-After honoured (a provider asking for a day is treated as this). */
  maxRetryAfterMs?: number;
  /** Cooldown after an auth failure (a key problem does not fix itself in seconds). */
  authCooldownMs?: number;
  /** A half-open probe that never reports frees the slot after this long. */
  probeLeaseMs?: number;
}

export const DEFAULT_BREAKER_OPTIONS: Required<BreakerOptions> = {
  consecutiveFailures: 3,
  windowSize: 20,
  windowMs: 60_000,
  minWindowSamples: 10,
  failureRate: 0.5,
  baseCooldownMs: 5_000,
  maxCooldownMs: 30_000,
  rateLimitCooldownMs: 2_000,
  maxRetryAfterMs: 10 * 60_000,
  authCooldownMs: 5 * 60_000,
  probeLeaseMs: 60_000,
};

const AVAILABILITY_FAILURES: ReadonlySet<AttemptOutcome> = new Set(['rate_limited', 'overloaded', 'timeout', 'connection', 'auth']);

/** True for outcomes that say the provider (not the model) failed. */
export function isAvailabilityFailure(outcome: AttemptOutcome): boolean {
  return AVAILABILITY_FAILURES.has(outcome);
}

export interface BreakerJSON {
  state: BreakerState;
  until: number | null;
  consecutiveFailures: number;
  reopenCount: number;
  openedAt: number | null;
}

export type TransitionSink = (t: Omit<BreakerTransition, 'providerId' | 'modelId'>) => void;

export class Breaker {
  state: BreakerState = 'closed';
  until: number | null = null;
  consecutiveFailures = 0;
  /** Opens since the last close: drives the cooldown doubling. */
  reopenCount = 0;
  openedAt: number | null = null;
  /** Epoch ms until which the half-open probe slot is taken (0: free). */
  probeLeaseUntil = 0;
  // Windowed outcomes: ring of (at, failed).
  readonly #winAt: Float64Array;
  readonly #winFail: Uint8Array;
  #winNext = 0;
  #winSize = 0;

  constructor(
    private readonly o: Required<BreakerOptions>,
    private readonly emit: TransitionSink,
  ) {
    this.#winAt = new Float64Array(o.windowSize);
    this.#winFail = new Uint8Array(o.windowSize);
  }

  /** Moves open → half-open once the cooldown has elapsed (observed lazily, emitted when observed). */
  refresh(now: number): void {
    if (this.state === 'open' && this.until !== null && now >= this.until) {
      this.#to('half_open', now, 'cooldown_elapsed');
      this.probeLeaseUntil = 0;
    }
  }

  isAvailable(now: number): boolean {
    this.refresh(now);
    if (this.state === 'closed') return true;
    if (this.state === 'half_open') return this.probeLeaseUntil <= now;
    return false;
  }

  tryAcquire(now: number): boolean {
    this.refresh(now);
    if (this.state === 'closed') return true;
    if (this.state === 'half_open' && this.probeLeaseUntil <= now) {
      this.probeLeaseUntil = now + this.o.probeLeaseMs;
      return true;
    }
    return false;
  }

  snapshot(now: number): BreakerSnapshot {
    this.refresh(now);
    return {
      state: this.state,
      until: this.state === 'open' ? this.until : null,
      probeInFlight: this.state === 'half_open' && this.probeLeaseUntil > now,
      consecutiveFailures: this.consecutiveFailures,
    };
  }

  record(outcome: AttemptOutcome, at: number, retryAfterMs: number | undefined, startedAt: number | undefined): void {
    this.refresh(at);
    const failed = isAvailabilityFailure(outcome);
    this.#pushWindow(at, failed);

    if (this.state === 'open') {
      // Reports from calls that were already in flight when it opened: no state change, except that a
      // provider asking us to wait longer is honoured.
      if (failed && retryAfterMs !== undefined) {
        const until = at + Math.min(retryAfterMs, this.o.maxRetryAfterMs);
        if (this.until === null || until > this.until) this.until = until;
      }
      return;
    }

    if (this.state === 'half_open') {
      // A report from a call started before the breaker opened says nothing about recovery.
      if (startedAt !== undefined && this.openedAt !== null && startedAt < this.openedAt) return;
      this.probeLeaseUntil = 0;
      if (failed) {
        this.consecutiveFailures++;
        this.#open(at, this.#cooldown(outcome, retryAfterMs), 'probe_failed');
      } else {
        this.consecutiveFailures = 0;
        this.reopenCount = 0;
        this.until = null;
        this.openedAt = null;
        this.#clearWindow();
        this.#to('closed', at, 'probe_succeeded');
      }
      return;
    }

    // closed
    if (!failed) {
      this.consecutiveFailures = 0;
      return;
    }
    this.consecutiveFailures++;
    if (outcome === 'rate_limited') return this.#open(at, this.#cooldown(outcome, retryAfterMs), 'rate_limited');
    if (outcome === 'auth') return this.#open(at, this.o.authCooldownMs, 'auth');
    if (retryAfterMs !== undefined) return this.#open(at, Math.min(retryAfterMs, this.o.maxRetryAfterMs), `${outcome}_retry_after`);
    if (this.consecutiveFailures >= this.o.consecutiveFailures) {
      return this.#open(at, this.#cooldown(outcome, undefined), 'consecutive_failures');
    }
    if (this.#windowFailureRate(at) >= this.o.failureRate) {
      return this.#open(at, this.#cooldown(outcome, undefined), 'failure_rate');
    }
  }

  #cooldown(outcome: AttemptOutcome, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), this.o.maxRetryAfterMs);
    if (outcome === 'auth') return this.o.authCooldownMs;
    const base = outcome === 'rate_limited' ? this.o.rateLimitCooldownMs : this.o.baseCooldownMs;
    return Math.min(base * 2 ** Math.min(this.reopenCount, 16), this.o.maxCooldownMs);
  }

  #open(at: number, cooldownMs: number, reason: string): void {
    this.until = at + cooldownMs;
    this.openedAt = at;
    this.reopenCount++;
    this.probeLeaseUntil = 0;
    this.#to('open', at, reason);
  }

  #to(to: BreakerState, at: number, reason: string): void {
    const from = this.state;
    this.state = to;
    this.emit(to === 'open' ? { from, to, at, reason, until: this.until! } : { from, to, at, reason });
  }

  #pushWindow(at: number, failed: boolean): void {
    const i = this.#winNext;
    this.#winAt[i] = at;
    this.#winFail[i] = failed ? 1 : 0;
    this.#winNext = (i + 1) % this.o.windowSize;
    if (this.#winSize < this.o.windowSize) this.#winSize++;
  }

  #clearWindow(): void {
    this.#winNext = 0;
    this.#winSize = 0;
  }

  #windowFailureRate(now: number): number {
    let n = 0;
    let f = 0;
    for (let i = 0; i < this.#winSize; i++) {
      if (now - this.#winAt[i]! <= this.o.windowMs) {
        n++;
        f += this.#winFail[i]!;
      }
    }
    return n >= this.o.minWindowSamples ? f / n : 0;
  }

  toJSON(): BreakerJSON {
    return { state: this.state, until: this.until, consecutiveFailures: this.consecutiveFailures, reopenCount: this.reopenCount, openedAt: this.openedAt };
  }

  /**
   * Loads shared state. `merge`: adopt another instance's open breaker when it is open longer than ours
   * (an outage seen elsewhere is worth knowing); never close ours because another instance is closed.
   */
  load(j: BreakerJSON, merge: boolean, now: number): void {
    if (merge) {
      if (j.state === 'open' && j.until !== null && j.until > now && (this.state !== 'open' || (this.until ?? 0) < j.until)) {
        this.until = j.until;
        this.openedAt = j.openedAt;
        this.reopenCount = Math.max(this.reopenCount, j.reopenCount);
        if (this.state !== 'open') this.#to('open', now, 'shared_state');
      }
      return;
    }
    const from = this.state;
    this.state = j.state;
    this.until = j.until;
    this.consecutiveFailures = j.consecutiveFailures;
    this.reopenCount = j.reopenCount;
    this.openedAt = j.openedAt;
    this.probeLeaseUntil = 0;
    if (from !== j.state) this.emit(j.state === 'open' ? { from, to: j.state, at: now, reason: 'shared_state', until: j.until ?? now } : { from, to: j.state, at: now, reason: 'shared_state' });
  }
}
