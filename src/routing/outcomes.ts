// Finish probability per (task type, model): Beta-Bernoulli with a prior from the intelligence index and
// capabilities, updated online. Observations are discounted a little on every update (γ), so the
// estimate keeps following a model whose behaviour changes and evidence stays bounded.
//
// What counts: success → a finish; refusal and invalid output → a failure to finish (the model could not
// do this task); caller feedback `false` turns one finish into a failure. Provider errors (429, 5xx,
// timeouts, resets, auth) are availability, handled by the breaker, and do not move this estimate;
// context_length and bad_request are properties of the request, not of the model's ability.
import type { ModelInfo } from '../catalog/types.js';
import type { AttemptOutcome, TaskType } from './types.js';

export interface OutcomeOptions {
  /** Prior strength in pseudo-observations. */
  priorStrength?: number;
  /** Per-update discount of past observations (1: never forget). */
  discount?: number;
  /**
   * Weight of a failure on a request another model already failed (afterModelFailure). Fallbacks see
   * the hard requests: counting those failures in full biases every fallback model's estimate down
   * (measured in bench:quality: a 0.74 model learned as 0.60), so they count partly.
   */
  hardRequestFailureWeight?: number;
}

export const DEFAULT_OUTCOME_OPTIONS: Required<OutcomeOptions> = { priorStrength: 10, discount: 0.995, hardRequestFailureWeight: 0.5 };

/**
 * How hard each task type is on the intelligence-index scale: the index at which a plain model's prior
 * is 50 %. Chosen so that mid-range models (index ~20-30) are comfortably above a 0.6 bar on chat and
 * drafting and near it on code and reasoning.
 */
export const TASK_DIFFICULTY: Readonly<Record<TaskType, number>> = {
  chat: 0,
  drafting: 2,
  summarization: 4,
  vision: 0,
  extraction: 10,
  tool_use: 14,
  code: 20,
  reasoning: 24,
};

/** Index points per logit unit: how quickly the prior rises with the index. */
const INDEX_SCALE = 8;

/** Prior mean for (task, model): logistic of the index (plus capability bonuses) over the task's difficulty. */
export function priorMean(task: TaskType, model: ModelInfo): number {
  let idx = model.intelligenceIndex;
  const caps = model.capabilities;
  if (task === 'reasoning' && caps.includes('reasoning')) idx += 8;
  if (task === 'code') {
    if (caps.includes('code')) idx += 10;
    if (caps.includes('reasoning')) idx += 2;
  }
  const x = (idx - TASK_DIFFICULTY[task]) / INDEX_SCALE;
  // Kept inside [0.03, 0.97]: a prior is never certainty.
  return 0.03 + 0.94 / (1 + Math.exp(-x));
}

export interface OutcomeCell {
  priorMean: number;
  priorStrength: number;
  /** Discounted finishes and failures observed. */
  successes: number;
  failures: number;
  /** Raw count of observations (not discounted): how sampled this cell is. */
  observations: number;
  /** Moving average of output tokens on finishes (0 until observed). */
  outputTokensAvg: number;
  outputTokensSamples: number;
  /** Cached posterior mean. */
  mean: number;
}

export interface OutcomeCellJSON {
  successes: number;
  failures: number;
  observations: number;
  outputTokensAvg: number;
  outputTokensSamples: number;
}

function posterior(c: OutcomeCell): number {
  return (c.priorMean * c.priorStrength + c.successes) / (c.priorStrength + c.successes + c.failures);
}

export class OutcomeModel {
  readonly #o: Required<OutcomeOptions>;
  readonly #cells = new Map<string, OutcomeCell>();

  constructor(options: OutcomeOptions = {}) {
    this.#o = { ...DEFAULT_OUTCOME_OPTIONS, ...options };
  }

  /** The (persistent) cell for (task, model); created with its prior on first use. */
  cell(task: TaskType, model: ModelInfo): OutcomeCell {
    const key = `${task}|${model.id}`;
    let c = this.#cells.get(key);
    if (!c) {
      const pm = priorMean(task, model);
      c = { priorMean: pm, priorStrength: this.#o.priorStrength, successes: 0, failures: 0, observations: 0, outputTokensAvg: 0, outputTokensSamples: 0, mean: pm };
      this.#cells.set(key, c);
    }
    return c;
  }

  /** Existing cell, without creating one. */
  peek(task: TaskType, modelId: string): OutcomeCell | undefined {
    return this.#cells.get(`${task}|${modelId}`);
  }

  /** Applies an attempt outcome; returns whether it counted toward the finish probability. */
  recordAttempt(task: TaskType, model: ModelInfo, outcome: AttemptOutcome, outputTokens?: number, afterModelFailure = false): boolean {
    if (outcome === 'success') {
      const c = this.cell(task, model);
      this.#observe(c, 1, 0);
      if (outputTokens !== undefined && outputTokens > 0) {
        c.outputTokensSamples++;
        // Running mean for the first 20, then an exponential moving average.
        const a = Math.max(1 / c.outputTokensSamples, 0.05);
        c.outputTokensAvg += a * (outputTokens - c.outputTokensAvg);
      }
      return true;
    }
    if (outcome === 'refusal' || outcome === 'invalid_output') {
      this.#observe(this.cell(task, model), 0, afterModelFailure ? this.#o.hardRequestFailureWeight : 1);
      return true;
    }
    return false;
  }

  /** Caller's verdict: `false` moves one finish to a failure; `true` confirms (the attempt already counted it). */
  recordFeedback(task: TaskType, model: ModelInfo, success: boolean): void {
    if (success) return;
    const c = this.cell(task, model);
    c.successes = Math.max(0, c.successes - 1);
    c.failures += 1;
    c.mean = posterior(c);
  }

  #observe(c: OutcomeCell, s: number, f: number): void {
    const g = this.#o.discount;
    c.successes = c.successes * g + s;
    c.failures = c.failures * g + f;
    c.observations++;
    c.mean = posterior(c);
  }

  toJSON(): Record<string, OutcomeCellJSON> {
    const out: Record<string, OutcomeCellJSON> = {};
    for (const [k, c] of this.#cells) {
      if (c.observations === 0 && c.failures === 0) continue;
      out[k] = { successes: c.successes, failures: c.failures, observations: c.observations, outputTokensAvg: c.outputTokensAvg, outputTokensSamples: c.outputTokensSamples };
    }
    return out;
  }

  /** Loads cells; `merge` keeps whichever of ours and theirs has more observations. */
  load(json: Record<string, OutcomeCellJSON>, resolveModel: (id: string) => ModelInfo | undefined, merge: boolean): void {
    for (const [k, j] of Object.entries(json)) {
      const bar = k.indexOf('|');
      const task = k.slice(0, bar) as TaskType;
      if (!(task in TASK_DIFFICULTY)) continue;
      const model = resolveModel(k.slice(bar + 1));
      if (!model) continue;
      const c = this.cell(task, model);
      if (merge && c.observations >= j.observations) continue;
      c.successes = finite(j.successes);
      c.failures = finite(j.failures);
      c.observations = finite(j.observations);
      c.outputTokensAvg = finite(j.outputTokensAvg);
      c.outputTokensSamples = finite(j.outputTokensSamples);
      c.mean = posterior(c);
    }
  }
}

function finite(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}
