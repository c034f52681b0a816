// The router's live signals in one place: latency and availability per (provider, model), finish
// probability per (task type, model). The executor reports every attempt here (RouterSignals); the
// router reads the same objects on every decision. State exports to JSON and imports back (replace or
// merge), so gateway instances can share it through the store at a coarse interval.
import type { Catalog } from '../catalog/catalog.js';
import type { ModelInfo } from '../catalog/types.js';
import { Breaker, DEFAULT_BREAKER_OPTIONS, type BreakerJSON, type BreakerOptions } from './breaker.js';
import { DEFAULT_LATENCY_OPTIONS, LatencyWindow, type LatencyOptions, type LatencySampleTuple } from './latency.js';
import { OutcomeModel, type OutcomeCellJSON, type OutcomeOptions } from './outcomes.js';
import {
  ATTEMPT_OUTCOMES,
  TASK_TYPES,
  type AttemptReport,
  type BreakerSnapshot,
  type BreakerTransition,
  type FeedbackReport,
  type RouterSignals,
} from './types.js';

export interface SignalsOptions {
  latency?: LatencyOptions;
  breaker?: BreakerOptions;
  outcomes?: OutcomeOptions;
}

/** Everything known about one (provider, model). Objects are persistent: the router keeps references. */
export interface OfferingSignals {
  readonly providerId: string;
  readonly modelId: string;
  readonly latency: LatencyWindow;
  readonly breaker: Breaker;
}

export interface SignalsState {
  v: 1;
  at: number;
  latency: Record<string, (number | null)[][]>;
  breakers: Record<string, BreakerJSON>;
  outcomes: Record<string, OutcomeCellJSON>;
}

/** A report that does not fit the contract; `field` names what is wrong. Nothing was recorded. */
export class SignalsInputError extends Error {
  override readonly name = 'SignalsInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const OUTCOMES = new Set<string>(ATTEMPT_OUTCOMES);
const TASKS = new Set<string>(TASK_TYPES);

export class Signals implements RouterSignals {
  readonly latencyOptions: Required<LatencyOptions>;
  readonly breakerOptions: Required<BreakerOptions>;
  readonly outcomes: OutcomeModel;
  readonly #catalog: Catalog;
  readonly #slots = new Map<string, OfferingSignals>();
  readonly #listeners = new Set<(t: BreakerTransition) => void>();

  constructor(catalog: Catalog, options: SignalsOptions = {}) {
    this.#catalog = catalog;
    this.latencyOptions = { ...DEFAULT_LATENCY_OPTIONS, ...options.latency };
    this.breakerOptions = { ...DEFAULT_BREAKER_OPTIONS, ...options.breaker };
    this.outcomes = new OutcomeModel(options.outcomes);
  }

  /** The persistent signals of one (provider, model), created on first use. */
  slot(providerId: string, modelId: string): OfferingSignals {
    const key = `${providerId}/${modelId}`;
    let s = this.#slots.get(key);
    if (!s) {
      const emit = (t: Omit<BreakerTransition, 'providerId' | 'modelId'>) => {
        const full: BreakerTransition = { providerId, modelId, ...t };
        for (const l of this.#listeners) {
          try {
            l(full);
          } catch {
            // A listener's failure must not break routing.
          }
        }
      };
      s = { providerId, modelId, latency: new LatencyWindow(this.latencyOptions), breaker: new Breaker(this.breakerOptions, emit) };
      this.#slots.set(key, s);
    }
    return s;
  }

  #model(modelId: string, field: string): ModelInfo {
    const m = this.#catalog.model(modelId);
    if (!m) throw new SignalsInputError(field, `unknown model ${JSON.stringify(modelId)}`);
    return m;
  }

  recordAttempt(r: AttemptReport): void {
    if (!OUTCOMES.has(r.outcome)) throw new SignalsInputError('outcome', `unknown outcome ${JSON.stringify(r.outcome)}`);
    if (!TASKS.has(r.taskType)) throw new SignalsInputError('taskType', `unknown task type ${JSON.stringify(r.taskType)}`);
    if (!Number.isFinite(r.at)) throw new SignalsInputError('at', 'must be epoch ms');
    const model = this.#model(r.modelId, 'modelId');
    const slot = this.slot(r.providerId, r.modelId);
    slot.breaker.record(r.outcome, r.at, validMs(r.retryAfterMs), r.startedAt);
    if (r.outcome === 'success' && validMs(r.ttftMs) !== undefined && validMs(r.totalMs) !== undefined) {
      slot.latency.add(r.at, r.ttftMs!, r.totalMs!, r.outputTokens);
    }
    this.outcomes.recordAttempt(r.taskType, model, r.outcome, r.outputTokens, r.afterModelFailure === true);
  }

  recordFeedback(r: FeedbackReport): void {
    if (!TASKS.has(r.taskType)) throw new SignalsInputError('taskType', `unknown task type ${JSON.stringify(r.taskType)}`);
    this.outcomes.recordFeedback(r.taskType, this.#model(r.modelId, 'modelId'), r.success);
  }

  isAvailable(modelId: string, providerId: string, now: number): boolean {
    return this.slot(providerId, modelId).breaker.isAvailable(now);
  }

  tryAcquire(modelId: string, providerId: string, now: number): boolean {
    return this.slot(providerId, modelId).breaker.tryAcquire(now);
  }

  breakerState(modelId: string, providerId: string, now: number): BreakerSnapshot {
    return this.slot(providerId, modelId).breaker.snapshot(now);
  }

  onBreakerTransition(listener: (t: BreakerTransition) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every (provider, model) breaker that is not closed, for status surfaces. */
  openBreakers(now: number): (BreakerSnapshot & { providerId: string; modelId: string })[] {
    const out: (BreakerSnapshot & { providerId: string; modelId: string })[] = [];
    for (const s of this.#slots.values()) {
      const snap = s.breaker.snapshot(now);
      if (snap.state !== 'closed') out.push({ providerId: s.providerId, modelId: s.modelId, ...snap });
    }
    return out;
  }

  exportState(now: number = Date.now()): SignalsState {
    const latency: Record<string, (number | null)[][]> = {};
    const breakers: Record<string, BreakerJSON> = {};
    for (const [k, s] of this.#slots) {
      if (s.latency.size) latency[k] = s.latency.toJSON().map((t: LatencySampleTuple) => t.map((x) => (Number.isNaN(x) ? null : x)));
      const b = s.breaker.toJSON();
      if (b.state !== 'closed' || b.consecutiveFailures) breakers[k] = b;
    }
    return { v: 1, at: now, latency, breakers, outcomes: this.outcomes.toJSON() };
  }

  /**
   * Loads exported state. `replace` (default) overwrites what the snapshot names; `merge` unions latency
   * samples, keeps the better-sampled outcome cell and adopts longer-open breakers. Unknown
   * providers/models in the snapshot are skipped (the catalog may have changed).
   */
  importState(state: SignalsState, opts: { mode?: 'replace' | 'merge'; now?: number } = {}): void {
    if (!state || state.v !== 1) throw new SignalsInputError('v', 'unsupported signals state version');
    const merge = opts.mode === 'merge';
    const now = opts.now ?? Date.now();
    const known = (key: string) => {
      const i = key.indexOf('/');
      const providerId = key.slice(0, i);
      const modelId = key.slice(i + 1);
      return this.#catalog.offering(providerId, modelId) ? { providerId, modelId } : undefined;
    };
    for (const [k, samples] of Object.entries(state.latency ?? {})) {
      const id = known(k);
      if (id && Array.isArray(samples)) this.slot(id.providerId, id.modelId).latency.load(samples, merge);
    }
    for (const [k, b] of Object.entries(state.breakers ?? {})) {
      const id = known(k);
      if (id && b) this.slot(id.providerId, id.modelId).breaker.load(b, merge, now);
    }
    this.outcomes.load(state.outcomes ?? {}, (id) => this.#catalog.model(id), merge);
  }
}

function validMs(v: number | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}
