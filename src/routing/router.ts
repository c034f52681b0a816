// The routing decision. For one request:
//   classify → resolve caps/pin/bar → for every (provider, model) offering: capability, context, pin,
//   exclusions, breaker → score (finish probability, expected and worst-case cost at the current price,
//   predicted latency) → caps and bar → order the eligible ones.
// Order: the cheapest candidate (by expected cost) whose finish probability clears the bar, ties (within
// ~2 %) broken by predicted latency; the rest follow as fallbacks, the first of them on another provider
// when there is one (an outage is often provider-wide). With a small bounded probability an eligible,
// less-sampled candidate goes first instead (marked `explored`), so estimates stay fresh.
// Nothing is ever silently downgraded: a candidate that misses a cap or the bar is refused with a reason,
// and when none is left the result is NoEligibleModel listing every candidate and every reason.
//
// Hot path: per-offering static data (capability mask, signal slots, refusal singletons) is computed
// once; a decision allocates the scored candidates and little else.
import type { Catalog, CatalogOffering } from '../catalog/catalog.js';
import { formatMicros, tokenCostMicros } from '../catalog/prices.js';
import type { Capability } from '../catalog/types.js';
import { classify } from './classify.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, EXPECTED_OUTPUT_TOKENS, estimateInputTokens, worstCaseInputTokens } from './estimate.js';
import { predictLatency, type LatencyPrediction } from './latency.js';
import type { OutcomeCell } from './outcomes.js';
import { resolvePolicy } from './policy.js';
import type { OfferingSignals, Signals } from './signals.js';
import {
  TASK_TYPES,
  type NoEligibleModel,
  type Plan,
  type PlanOk,
  type PlanOptions,
  type Refusal,
  type ResolvedCaps,
  type RouteRequest,
  type RoutingDefaults,
  type ScoredCandidate,
  type TaskType,
} from './types.js';
import { createRng } from '../util/random.js';

export interface RouterOptions {
  catalog: Catalog;
  signals: Signals;
  /** System defaults (config.routing): caps, bar per task type, default bar, exploration share. */
  defaults?: RoutingDefaults;
  /** Uniform [0,1) source for exploration; inject a seeded one for reproducible tests. */
  random?: () => number;
  /** Output budget when the request sets none. */
  defaultMaxOutputTokens?: number;
  /** Upper bound on the exploration share, whatever the configuration says. */
  maxExploration?: number;
}

const CAPABILITIES: readonly Capability[] = ['tools', 'vision', 'json_schema', 'json_mode', 'reasoning', 'code'];
const CAP_BIT: Readonly<Record<Capability, number>> = { tools: 1, vision: 2, json_schema: 4, json_mode: 8, reasoning: 16, code: 32 };
const TASK_INDEX = new Map<TaskType, number>(TASK_TYPES.map((t, i) => [t, i]));
/** Relative width of a cost tie (costs within ~2 % compare by latency). */
const TIE_LOG = Math.log(1.02);
const DEFAULT_EXPLORATION = 0.02;
/** Shared by every eligible candidate (frozen: nothing may add a refusal to an eligible candidate). */
const NO_REFUSALS = Object.freeze([]) as unknown as Refusal[];
const MAX_EXPLORATION = 0.2;
/** Exploration only considers candidates at most this many times the first one's expected cost. */
const EXPLORE_COST_FACTOR = 3;

function mask(caps: readonly Capability[]): number {
  let m = 0;
  for (const c of caps) m |= CAP_BIT[c];
  return m;
}

/** A seeded PRNG for reproducible exploration: the shared mulberry32 of src/util/random.ts. */
export const seededRandom: (seed: number) => () => number = createRng;

/** Per-offering data that does not change between decisions. */
interface Static {
  o: CatalogOffering;
  key: string;
  capMask: number;
  lacks: Map<Capability, Refusal>;
  slot: OfferingSignals;
  cells: (OutcomeCell | undefined)[];
}

function capabilityName(c: Capability): string {
  return c === 'json_schema' ? 'JSON-schema output' : c === 'json_mode' ? 'JSON mode' : c === 'tools' ? 'tool calling' : c;
}

export class Router {
  readonly #catalog: Catalog;
  readonly #signals: Signals;
  readonly #defaults: RoutingDefaults;
  readonly #random: () => number;
  readonly #defaultMaxOut: number;
  readonly #exploration: number;
  readonly #statics: Static[];
  readonly #minSamples: number;
  readonly #scratch: LatencyPrediction = { ttftMs: 0, tokensPerSec: 0, source: 'reference' };
  /** Sort keys scratch, one slot per offering (plan is synchronous, so one buffer serves every call). */
  readonly #keys: Float64Array;

  constructor(options: RouterOptions) {
    this.#catalog = options.catalog;
    this.#signals = options.signals;
    this.#defaults = options.defaults ?? {};
    this.#random = options.random ?? Math.random;
    this.#defaultMaxOut = options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
    this.#exploration = Math.min(Math.max(0, this.#defaults.exploration ?? DEFAULT_EXPLORATION), options.maxExploration ?? MAX_EXPLORATION);
    this.#minSamples = this.#signals.latencyOptions.minSamples;
    this.#keys = new Float64Array(this.#catalog.offerings().length);
    this.#statics = this.#catalog.offerings().map((o) => {
      const lacks = new Map<Capability, Refusal>();
      for (const c of CAPABILITIES) {
        if (!o.capabilities.includes(c)) {
          lacks.set(c, Object.freeze({ kind: 'lacks_capability', capability: c, message: `${o.modelId} on ${o.providerId} lacks ${capabilityName(c)}` }) as Refusal);
        }
      }
      return {
        o,
        key: `${o.providerId}/${o.modelId}`,
        capMask: mask(o.capabilities),
        lacks,
        slot: this.#signals.slot(o.providerId, o.modelId),
        cells: new Array<OutcomeCell | undefined>(TASK_TYPES.length),
      };
    });
  }

  /** Exploration share in effect (after the bound). */
  get exploration(): number {
    return this.#exploration;
  }

  plan(request: RouteRequest, opts: PlanOptions = {}): Plan {
    const now = opts.now ?? Date.now();
    const classification = classify(request);
    const taskType = classification.taskType;
    const taskIdx = TASK_INDEX.get(taskType)!;
    const caps = resolvePolicy(request, taskType, opts.agentPolicy, this.#defaults);
    const reqMask = mask(classification.requires);
    const inputTokens = opts.inputTokens ?? estimateInputTokens(request);
    const worstInputTokens = worstCaseInputTokens(inputTokens);
    const budget = request.maxOutputTokens ?? this.#defaultMaxOut;
    const defaultOut = EXPECTED_OUTPUT_TOKENS[taskType];
    const exclude = opts.exclude && opts.exclude.length ? new Set(opts.exclude) : null;
    const pin = caps.pin;
    const bar = caps.minFinishProbability;
    const costCap = caps.costCeilingMicros;
    const latencyCap = caps.latencyTargetMs;
    const outcomes = this.#signals.outcomes;
    const lat = this.#scratch;

    const candidates: ScoredCandidate[] = new Array(this.#statics.length);
    const eligible: ScoredCandidate[] = [];
    for (let i = 0; i < this.#statics.length; i++) {
      const s = this.#statics[i]!;
      const o = s.o;
      let refusals: Refusal[] | null = null;

      const missing = reqMask & ~s.capMask;
      if (missing) {
        refusals = [];
        for (const c of classification.requires) if (CAP_BIT[c] & missing) refusals.push(s.lacks.get(c)!);
      }
      const maxOut = budget < o.model.maxOutputTokens ? budget : o.model.maxOutputTokens;
      const need = inputTokens + maxOut;
      if (need > o.model.contextWindow) {
        (refusals ??= []).push({
          kind: 'context_too_small',
          needTokens: need,
          contextWindow: o.model.contextWindow,
          message: `needs ${need} tokens (${inputTokens} input + ${maxOut} output); ${o.modelId}'s context window is ${o.model.contextWindow}`,
        });
      }
      if (pin && ((pin.model && pin.model !== o.modelId) || (pin.provider && pin.provider !== o.providerId))) {
        (refusals ??= []).push({ kind: 'pinned_out', pin, message: `pinned to ${pinText(pin)}` });
      }
      if (exclude && (exclude.has(s.key) || exclude.has(o.modelId))) {
        (refusals ??= []).push({ kind: 'excluded', reason: 'excluded for this call', message: `${s.key} excluded for this call (an earlier attempt ruled it out)` });
      }
      const b = s.slot.breaker;
      b.refresh(now);
      if (b.state === 'open') {
        (refusals ??= []).push({
          kind: 'breaker_open',
          until: b.until,
          state: 'open',
          message: `${s.key} breaker open until ${b.until === null ? 'further notice' : new Date(b.until).toISOString()}`,
        });
      } else if (b.state === 'half_open' && b.probeLeaseUntil > now) {
        (refusals ??= []).push({ kind: 'breaker_open', until: null, state: 'half_open', message: `${s.key} breaker half-open: its one probe call is in flight` });
      }

      let cell = s.cells[taskIdx];
      if (!cell) cell = s.cells[taskIdx] = outcomes.cell(taskType, o.model);
      const p = cell.mean;
      let expOut = cell.outputTokensSamples >= 3 ? Math.round(cell.outputTokensAvg) : defaultOut;
      if (expOut > maxOut) expOut = maxOut;
      const price = o.price;
      const inputCost = tokenCostMicros(inputTokens, price.inputPerMTokMicros);
      const expectedCost = inputCost + tokenCostMicros(expOut, price.outputPerMTokMicros);
      const worstCost = tokenCostMicros(worstInputTokens, price.inputPerMTokMicros) + tokenCostMicros(maxOut, price.outputPerMTokMicros);
      predictLatency(s.slot.latency.stats(now), this.#minSamples, o.defaultTtftMs, o.referenceOutputTokensPerSecond, lat);
      const predicted = Math.round(lat.ttftMs + (expOut * 1000) / lat.tokensPerSec);

      if (costCap !== null && worstCost > costCap) {
        (refusals ??= []).push({
          kind: 'over_cost_cap',
          byMicros: worstCost - costCap,
          worstCaseCostMicros: worstCost,
          expectedCostMicros: expectedCost,
          capMicros: costCap,
          message: `worst-case cost ${formatMicros(worstCost)} is over the cost cap ${formatMicros(costCap)} by ${formatMicros(worstCost - costCap)}`,
        });
      }
      if (latencyCap !== null && predicted > latencyCap) {
        (refusals ??= []).push({
          kind: 'over_latency_target',
          predictedMs: predicted,
          targetMs: latencyCap,
          byMs: predicted - latencyCap,
          message: `predicted latency ${predicted} ms is ${predicted - latencyCap} ms over the target ${latencyCap} ms`,
        });
      }
      if (p < bar) {
        (refusals ??= []).push({
          kind: 'below_bar',
          probability: p,
          bar,
          message: `finish probability ${Math.round(p * 1000) / 1000} for ${taskType} is below the bar ${bar}`,
        });
      }

      const c: ScoredCandidate = {
        modelId: o.modelId,
        providerId: o.providerId,
        upstreamModel: o.upstreamModel,
        finishProbability: p,
        outcomeEvidence: cell.priorStrength + cell.successes + cell.failures,
        expectedCostMicros: expectedCost,
        worstCaseCostMicros: worstCost,
        maxOutputTokens: maxOut,
        expectedOutputTokens: expOut,
        predictedLatencyMs: predicted,
        predictedTtftMs: Math.round(lat.ttftMs),
        latencySource: lat.source,
        price,
        breaker: b.state,
        eligible: refusals === null,
        refusals: refusals ?? NO_REFUSALS,
        explored: false,
        rank: 0,
      };
      candidates[i] = c;
      if (refusals === null) eligible.push(c);
    }

    const estimate = { inputTokens, expectedOutputTokens: defaultOut, maxOutputTokens: budget };
    if (eligible.length === 0) return this.#noEligible(taskType, classification, caps, estimate, candidates, now);

    const attempts = order(eligible, this.#keys);
    let explored = false;
    if (attempts.length > 1 && this.#exploration > 0 && this.#random() < this.#exploration) {
      const pick = this.#leastSampled(attempts, taskIdx);
      if (pick > 0) {
        const [c] = attempts.splice(pick, 1);
        c!.explored = true;
        attempts.unshift(c!);
        explored = true;
      }
    }
    for (let i = 0; i < attempts.length; i++) attempts[i]!.rank = i + 1;
    const plan: PlanOk = { ok: true, taskType, classification, caps, estimate, candidates, attempts, explored, at: now };
    return plan;
  }

  /**
   * Re-check before each attempt (the executor's duty): is the breaker still letting calls through, and
   * does the candidate's worst case still fit the cost cap with the money already spent on this call?
   * Returns the refusal, or null when the attempt may go ahead. Does not take the half-open probe slot
   * (call signals.tryAcquire right before sending).
   */
  recheck(candidate: ScoredCandidate, caps: ResolvedCaps, spentMicros: number, now: number = Date.now()): Refusal | null {
    const b = this.#signals.slot(candidate.providerId, candidate.modelId).breaker;
    if (!b.isAvailable(now)) {
      const snap = b.snapshot(now);
      return {
        kind: 'breaker_open',
        until: snap.until,
        state: snap.state,
        message: snap.state === 'open' ? `breaker open until ${new Date(snap.until!).toISOString()}` : 'breaker half-open: its one probe call is in flight',
      };
    }
    const cap = caps.costCeilingMicros;
    if (cap !== null && spentMicros + candidate.worstCaseCostMicros > cap) {
      const total = spentMicros + candidate.worstCaseCostMicros;
      return {
        kind: 'over_cost_cap',
        byMicros: total - cap,
        worstCaseCostMicros: candidate.worstCaseCostMicros,
        expectedCostMicros: candidate.expectedCostMicros,
        capMicros: cap,
        message: `${formatMicros(spentMicros)} already spent + worst case ${formatMicros(candidate.worstCaseCostMicros)} is over the cost cap ${formatMicros(cap)} by ${formatMicros(total - cap)}`,
      };
    }
    return null;
  }

  /**
   * Index (> 0) of the eligible candidate with the fewest observations for this task type, among those
   * whose expected cost is within EXPLORE_COST_FACTOR of the first: estimates matter most for the models
   * the decision could actually move to, and exploring a 30x pricier model would buy little knowledge at
   * a high price. 0 when none is less sampled than the first.
   */
  #leastSampled(attempts: ScoredCandidate[], taskIdx: number): number {
    const task = TASK_TYPES[taskIdx]!;
    const limit = attempts[0]!.expectedCostMicros * EXPLORE_COST_FACTOR;
    let best = 0;
    let bestObs = this.#signals.outcomes.peek(task, attempts[0]!.modelId)?.observations ?? 0;
    for (let i = 1; i < attempts.length; i++) {
      const c = attempts[i]!;
      if (c.expectedCostMicros > limit) continue;
      const obs = this.#signals.outcomes.peek(task, c.modelId)?.observations ?? 0;
      if (obs < bestObs) {
        bestObs = obs;
        best = i;
      }
    }
    return best;
  }

  #noEligible(
    taskType: TaskType,
    classification: NoEligibleModel['classification'],
    caps: ResolvedCaps,
    estimate: NoEligibleModel['estimate'],
    candidates: ScoredCandidate[],
    now: number,
  ): NoEligibleModel {
    const counts = new Map<string, number>();
    for (const c of candidates) {
      for (const r of c.refusals) {
        const k = r.kind === 'lacks_capability' ? `lack ${capabilityName(r.capability)}` : REFUSAL_SUMMARY[r.kind];
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    const parts = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`);
    const limits: string[] = [];
    if (caps.costCeilingMicros !== null) limits.push(`cost cap ${formatMicros(caps.costCeilingMicros)}`);
    if (caps.latencyTargetMs !== null) limits.push(`latency target ${caps.latencyTargetMs} ms`);
    limits.push(`bar ${caps.minFinishProbability}`);
    if (caps.pin) limits.push(`pin ${pinText(caps.pin)}`);
    const message = `No eligible model for ${taskType} among ${candidates.length} candidates (${limits.join(', ')}): ${parts.join('; ')}`;
    return { ok: false, kind: 'NoEligibleModel', taskType, classification, caps, estimate, candidates, message, at: now };
  }
}

const REFUSAL_SUMMARY: Readonly<Record<Refusal['kind'], string>> = {
  lacks_capability: 'lack a capability',
  context_too_small: 'have too small a context window',
  pinned_out: 'pinned out',
  breaker_open: 'have an open breaker',
  over_cost_cap: 'over the cost cap',
  over_latency_target: 'over the latency target',
  below_bar: 'below the bar',
  excluded: 'excluded for this call',
};

function pinText(pin: { model?: string; provider?: string }): string {
  return [pin.model && `model ${pin.model}`, pin.provider && `provider ${pin.provider}`].filter(Boolean).join(' on ');
}

/**
 * Cheapest first (costs within ~2 % tie and compare by predicted latency); first fallback on another
 * provider. In place, insertion sort on precomputed keys: the eligible list is a few dozen long, and
 * this avoids Array.prototype.sort's comparator calls and any allocation on the hot path.
 */
function order(out: ScoredCandidate[], key: Float64Array): ScoredCandidate[] {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const cost = out[i]!.expectedCostMicros;
    key[i] = cost > 0 ? Math.floor(Math.log(cost) / TIE_LOG) : -1e9;
  }
  for (let i = 1; i < n; i++) {
    const c = out[i]!;
    const k = key[i]!;
    let j = i - 1;
    while (j >= 0 && before(k, c, key[j]!, out[j]!)) {
      out[j + 1] = out[j]!;
      key[j + 1] = key[j]!;
      j--;
    }
    out[j + 1] = c;
    key[j + 1] = k;
  }
  if (n > 2 && out[1]!.providerId === out[0]!.providerId) {
    for (let j = 2; j < n; j++) {
      if (out[j]!.providerId !== out[0]!.providerId) {
        const c = out[j]!;
        for (let m = j; m > 1; m--) out[m] = out[m - 1]!;
        out[1] = c;
        break;
      }
    }
  }
  return out;
}

/** Strictly before: lower cost bucket, then lower predicted latency, then lower exact cost. */
function before(ka: number, a: ScoredCandidate, kb: number, b: ScoredCandidate): boolean {
  if (ka !== kb) return ka < kb;
  if (a.predictedLatencyMs !== b.predictedLatencyMs) return a.predictedLatencyMs < b.predictedLatencyMs;
  return a.expectedCostMicros < b.expectedCostMicros;
}
