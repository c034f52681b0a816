// The fallback executor: walks the plan's ranked attempts inside the caps, within a retry budget and a
// total deadline, and decides after every failure whether to wait and retry the same (provider, model),
// move to the next candidate, or stop with a clear error. Every attempt is reported to the signals and
// emitted on the chain (integers and strings only: never prompt or completion text).
//
// Rules, in short (see decideNext):
// - 429 with Retry-After: wait only if short and inside the deadline, else fail over. Without it: bounded
//   backoff with full jitter, then fail over. The breaker sees every 429, so a hot route stops being tried.
// - 500/502/504 once: one retry of the same model. 503/529 (the host says it is unavailable): fail over
//   when there is anywhere to go, else one retry.
// - Reset before any output: one retry on a fresh connection, then fail over.
// - Timeouts, stalls, cuts, malformed streams, invalid output: fail over (a silent route is not retried).
// - Context length: never the same model again; only candidates with a larger context window.
// - Refusal: never the same model again (on any host); fall back or stop, as configured.
// - Rejected assistant prefill / system role: retry that model once with the request adjusted (recorded).
// - Output already streamed to the caller's client: never a silent switch; a clear error instead.
import type { EventInput } from '../chain/types.js';
import { callCostMicros } from '../catalog/prices.js';
import type { ProviderQuirks } from '../providers/quirks.js';
import type { CallOptions } from '../providers/openai-compatible.js';
import {
  DEFAULT_TIMEOUTS,
  type CallTimeouts,
  type ChatRequest,
  type ErrorClass,
  type ProviderError,
  type ProviderResult,
  type ToolCallResult,
  type Usage,
} from '../providers/types.js';
import type { AttemptOutcome, PlanOk, RouteRequest, RouterSignals, ScoredCandidate } from './types.js';

/** What the executor needs of an adapter (OpenAICompatibleAdapter satisfies it). */
export interface ProviderAdapter {
  call(opts: CallOptions): Promise<ProviderResult>;
}

export interface ExecutionLimits {
  /** Retry budget: provider calls per execution, all attempts included. */
  maxAttempts: number;
  /** Total deadline of the execution, ms. */
  deadlineMs: number;
  /** Per-attempt timeouts (totalMs and firstTokenMs are clipped to what is left of the deadline). */
  timeouts: CallTimeouts;
  /** Longest Retry-After we wait out on the same route; longer ones fail over. */
  maxRetryAfterWaitMs: number;
  /** Same-route retries on 429 without Retry-After (each after a fully jittered backoff). */
  rateLimitRetries: number;
  /** Same-route retries after a 5xx. */
  serverErrorRetries: number;
  /** Same-route retries after a connection reset before any output. */
  resetRetries: number;
  /** Full-jitter backoff: wait uniform(0, min(backoffMaxMs, backoffBaseMs × 2^n)). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** After a refusal: try the next model, or stop and return the refusal. */
  onRefusal: 'fallback' | 'fail';
  /** After a model rejects an assistant prefill: retry it without the prefill, or skip to the next. */
  onPrefillRejected: 'strip' | 'skip';
  /** Stream from providers (gives TTFT, stall detection and early output). */
  upstreamStream: boolean;
}

export const DEFAULT_EXECUTION_LIMITS: ExecutionLimits = {
  maxAttempts: 4,
  deadlineMs: 90_000,
  timeouts: DEFAULT_TIMEOUTS,
  maxRetryAfterWaitMs: 2_000,
  rateLimitRetries: 2,
  serverErrorRetries: 1,
  resetRetries: 1,
  backoffBaseMs: 100,
  backoffMaxMs: 2_000,
  onRefusal: 'fallback',
  onPrefillRejected: 'strip',
  upstreamStream: true,
};

/** The slice of the catalog the executor reads: the live price and the context window. */
export interface CatalogView {
  offering(
    providerId: string,
    modelId: string,
  ): { price: { inputPerMTokMicros: number; outputPerMTokMicros: number }; model: { contextWindow: number; maxOutputTokens?: number } } | undefined;
}

/** A chain event without agent/decision (the caller binds them), or a full EventInput. */
export type ExecEvent = Omit<EventInput, 'agent' | 'decision'> & Partial<Pick<EventInput, 'agent' | 'decision'>>;

export interface ExecutorDeps {
  adapters: { get(providerId: string): ProviderAdapter | undefined };
  signals: Pick<RouterSignals, 'recordAttempt' | 'tryAcquire'>;
  /** Live prices and context windows; without it the plan's prices are used and context is unknown. */
  catalog?: CatalogView;
  /** Model-level quirks on top of the provider's (e.g. a model that rejects prefill). */
  modelQuirks?: (providerId: string, modelId: string) => Partial<ProviderQuirks> | undefined;
  limits?: Partial<ExecutionLimits>;
  /** Epoch ms (the breaker's clock). */
  now?: () => number;
  /** Waits (backoff, Retry-After); resolves early if the signal aborts. Tests inject a fake clock. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform [0, 1) for backoff jitter. */
  random?: () => number;
}

export interface ExecuteInput {
  plan: PlanOk;
  request: RouteRequest;
  /** Appends one chain event; the executor does not await each one on the hot path (order is call order). */
  emit: (event: ExecEvent) => Promise<unknown>;
  /**
   * The caller waits for the emitted events to be durable itself (the gateway does, once the money is
   * settled, together with its own last entries): return as soon as the call is done instead. Default
   * false: the result is returned only once its events are durable.
   */
  callerAwaitsEmits?: boolean;
  /** Bound into every event when given (when emit does not bind them itself). */
  agent?: string;
  decisionId?: string;
  signal?: AbortSignal;
  /** Text as it streams to the caller's client. Once called, a failure is returned, never a silent switch. */
  onDelta?: (text: string) => void;
  /** Money held for this call (micro-USD): an attempt whose worst case, plus what was spent, exceeds it is skipped. */
  budgetMicros?: number;
  /** Per-call overrides of the limits. */
  limits?: Partial<ExecutionLimits>;
}

/** One provider call as it happened. Failed attempts carry costMicros 0 (not billed), except one the caller aborted after sending. */
export interface ExecutedAttempt {
  n: number;
  modelId: string;
  providerId: string;
  upstreamModel: string;
  ok: boolean;
  error: ProviderError | null;
  status: number | null;
  latencyMs: number;
  ttftMs: number | null;
  usage: Usage | null;
  costMicros: number;
  /** 'first', 'retry' (same route again) or 'fallback' (a different route). */
  kind: 'first' | 'retry' | 'fallback';
  /** Time waited before this attempt (Retry-After or backoff), ms. */
  waitedMs: number;
  /** Request changes for this route's quirks (e.g. prefill_stripped). */
  adjustments: string[];
  simulated: boolean;
}

export type SkipReason = 'breaker_open' | 'over_budget' | 'context_too_small' | 'model_refused' | 'provider_auth_failed' | 'no_adapter';

export interface SkippedCandidate {
  modelId: string;
  providerId: string;
  reason: SkipReason;
}

/** Why an execution ended without an answer. */
export type StopReason =
  | 'all_failed'
  | 'retry_budget'
  | 'deadline'
  | 'not_retryable'
  | 'refusal'
  | 'partial_output_streamed'
  | 'aborted';

export interface ExecuteResult {
  ok: boolean;
  /** The model that actually answered (null on failure). */
  modelId: string | null;
  providerId: string | null;
  upstreamModel: string | null;
  content: string;
  toolCalls: ToolCallResult[];
  finishReason: string;
  /** The answering attempt's usage only. */
  usage: Usage | null;
  usageEstimated: boolean;
  /**
   * What the caller is billed: the answering attempt at its price; on failure 0, except for an attempt the
   * caller aborted after the request was sent (abortedAttemptCost). Integer micro-USD, not capped at the hold.
   */
  costMicros: number;
  /** Provider cost of failed attempts that reported usage (not billed to the caller; counted against the budget). */
  wastedMicros: number;
  attempts: ExecutedAttempt[];
  skipped: SkippedCandidate[];
  /** The answer came from another route than the plan's first. */
  fellBack: boolean;
  latencyMs: number;
  ttftMs: number | null;
  rawModel: string | null;
  simulated: boolean;
  aborted: boolean;
  /** Set on failure. */
  reason: StopReason | null;
  /** The last provider error (on failure). */
  error: ProviderError | null;
  /** Text had already been passed to onDelta when the execution failed. */
  partialOutputStreamed: boolean;
  message: string;
}

type Decision =
  | { action: 'retry'; waitMs: number; adjust?: 'strip_prefill' | 'no_system_role' }
  | { action: 'failover'; excludeModel?: boolean; excludeProvider?: boolean; needLargerContext?: boolean }
  | { action: 'stop'; reason: StopReason };

const MIN_ATTEMPT_MS = 50;

function keyOf(c: { providerId: string; modelId: string }): string {
  return `${c.providerId}/${c.modelId}`;
}

function outcomeOf(cls: ErrorClass): AttemptOutcome | null {
  switch (cls) {
    case 'rate_limited':
    case 'overloaded':
    case 'refusal':
    case 'context_length':
    case 'bad_request':
    case 'auth':
    case 'invalid_output':
      return cls;
    case 'timeout_connect':
    case 'timeout_first_token':
    case 'timeout_stall':
    case 'timeout_total':
      return 'timeout';
    case 'connection_reset':
    case 'stream_cut':
    case 'malformed_stream':
      return 'connection';
    case 'aborted':
      // The caller left: says nothing about the provider.
      return null;
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The OpenAI-shaped request the adapter sends; the output cap is the plan's budget so the hold covers it. */
export function toChatRequest(req: RouteRequest, maxOutputTokens: number): ChatRequest {
  const out: ChatRequest = { messages: req.messages as ChatRequest['messages'], maxOutputTokens };
  if (req.tools?.length) out.tools = req.tools;
  if (req.toolChoice !== undefined) out.tool_choice = req.toolChoice;
  if (req.responseFormat) out.response_format = req.responseFormat;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  return out;
}

export class Executor {
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly limits: ExecutionLimits;

  constructor(private readonly deps: ExecutorDeps) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? defaultSleep;
    this.random = deps.random ?? Math.random;
    this.limits = { ...DEFAULT_EXECUTION_LIMITS, ...deps.limits };
  }

  /** Bound for handing to the gateway as its ExecuteFn. */
  readonly execute = (input: ExecuteInput): Promise<ExecuteResult> => this.run(input);

  private async run(input: ExecuteInput): Promise<ExecuteResult> {
    const { plan, request, signal } = input;
    const L: ExecutionLimits = { ...this.limits, ...input.limits, timeouts: { ...this.limits.timeouts, ...input.limits?.timeouts } };
    const started = this.now();
    const deadline = started + L.deadlineMs;
    const taskType = plan.taskType;
    const inputTokens = plan.estimate.inputTokens;
    const maxOutputTokens = plan.estimate.maxOutputTokens;

    // Chain events go out in call order; they are all awaited before returning (durable with the result),
    // here or by the caller (callerAwaitsEmits).
    const emitted: Promise<unknown>[] = [];
    const emit = (e: ExecEvent): void => {
      const ev: ExecEvent = { ...e };
      if (input.agent !== undefined) ev.agent = input.agent;
      if (input.decisionId !== undefined) ev.decision = input.decisionId;
      const p = input.emit(ev);
      p.catch(() => undefined);
      emitted.push(p);
    };
    const route = (c: ScoredCandidate): { model: string; provider: string } => ({ model: c.modelId, provider: c.providerId });

    const attempts: ExecutedAttempt[] = [];
    const skipped: SkippedCandidate[] = [];
    const queue = plan.attempts.slice();
    const excludedModels = new Set<string>();
    const excludedProviders = new Set<string>();
    const tooSmallModels = new Set<string>();
    let minContextExclusive = 0;
    const sameRetries = new Map<string, number>();
    const adjustFor = new Map<string, { stripPrefill?: boolean; noSystemRole?: boolean }>();
    let wastedMicros = 0;
    let forwardedChars = 0;
    let lastError: ProviderError | null = null;
    let stop: StopReason | null = null;

    const first = plan.attempts[0];
    if (first) {
      emit({
        kind: 'routed',
        ...route(first),
        fields: {
          taskType,
          candidates: plan.candidates.length,
          eligible: plan.attempts.length,
          explored: plan.explored ? 1 : 0,
          expectedCostMicros: first.expectedCostMicros,
          worstCaseCostMicros: first.worstCaseCostMicros,
          predictedLatencyMs: Math.round(first.predictedLatencyMs),
          finishProbabilityPpm: Math.round(first.finishProbability * 1_000_000),
        },
      });
    }
    // The route we are moving away from, and why: becomes a `fallback` event when another route starts.
    let lastRoute: ScoredCandidate | undefined = first;
    let lastReason = '';

    const priceOf = (c: ScoredCandidate): { inputPerMTokMicros: number; outputPerMTokMicros: number } =>
      this.deps.catalog?.offering(c.providerId, c.modelId)?.price ?? c.price;
    const contextOf = (c: ScoredCandidate): number | undefined => this.deps.catalog?.offering(c.providerId, c.modelId)?.model.contextWindow;
    // The output cap sent is the plan's budget (so the hold covers the cost), within what the model can emit.
    const maxOutOf = (c: ScoredCandidate): number => {
      const modelMax = this.deps.catalog?.offering(c.providerId, c.modelId)?.model.maxOutputTokens;
      return modelMax !== undefined && modelMax < maxOutputTokens ? modelMax : maxOutputTokens;
    };
    const costCap = (): number | null => {
      const caps = [input.budgetMicros, plan.caps.costCeilingMicros].filter((v): v is number => typeof v === 'number');
      return caps.length ? Math.min(...caps) : null;
    };
    const skip = (c: ScoredCandidate, reason: SkipReason): void => {
      skipped.push({ modelId: c.modelId, providerId: c.providerId, reason });
      if (lastRoute && keyOf(lastRoute) === keyOf(c)) lastReason = reason;
    };

    /** Next candidate that passes the filters; takes the breaker slot last (it may be the half-open probe). */
    const nextCandidate = (): ScoredCandidate | undefined => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        if (excludedModels.has(c.modelId)) {
          skip(c, 'model_refused');
          continue;
        }
        if (excludedProviders.has(c.providerId)) {
          skip(c, 'provider_auth_failed');
          continue;
        }
        if (minContextExclusive > 0 || tooSmallModels.has(c.modelId)) {
          const ctx = contextOf(c);
          if (tooSmallModels.has(c.modelId) || ctx === undefined || ctx <= minContextExclusive) {
            skip(c, 'context_too_small');
            continue;
          }
        }
        const cap = costCap();
        if (cap !== null) {
          const worst = callCostMicros(inputTokens, maxOutOf(c), priceOf(c));
          if (wastedMicros + worst > cap) {
            skip(c, 'over_budget');
            continue;
          }
        }
        if (!this.deps.adapters.get(c.providerId)) {
          skip(c, 'no_adapter');
          continue;
        }
        if (!this.deps.signals.tryAcquire(c.modelId, c.providerId, this.now())) {
          skip(c, 'breaker_open');
          continue;
        }
        return c;
      }
      return undefined;
    };

    let current: ScoredCandidate | undefined;
    let pending: Extract<Decision, { action: 'retry' }> | null = null;
    // An earlier attempt of this call was refused or gave invalid output: the request itself is probably
    // hard, so later failures say less about their model (signals weight them down).
    let afterModelFailure = false;
    let answer: { c: ScoredCandidate; r: Extract<ProviderResult, { ok: true }>; cost: number } | null = null;

    while (!answer) {
      if (signal?.aborted) {
        stop = 'aborted';
        break;
      }
      if (attempts.length >= L.maxAttempts) {
        stop = 'retry_budget';
        break;
      }
      let cand: ScoredCandidate | undefined;
      let kind: ExecutedAttempt['kind'] = attempts.length === 0 ? 'first' : 'fallback';
      let waited = 0;
      if (pending && current) {
        const retry = pending;
        pending = null;
        // Waiting past the deadline is pointless: fail over instead.
        const worthWaiting = retry.waitMs === 0 || this.now() + retry.waitMs + MIN_ATTEMPT_MS < deadline;
        if (worthWaiting && retry.waitMs > 0) {
          await this.sleep(retry.waitMs, signal);
          waited = retry.waitMs;
        }
        if (signal?.aborted) {
          stop = 'aborted';
          break;
        }
        if (worthWaiting) {
          if (this.deps.signals.tryAcquire(current.modelId, current.providerId, this.now())) {
            cand = current;
            kind = 'retry';
          } else skip(current, 'breaker_open');
        }
      }
      if (!cand && deadline - this.now() < MIN_ATTEMPT_MS) {
        stop = 'deadline';
        break;
      }
      if (!cand) cand = nextCandidate();
      if (!cand) break;
      const remaining = Math.max(MIN_ATTEMPT_MS, deadline - this.now());
      if (lastRoute && keyOf(lastRoute) !== keyOf(cand)) {
        emit({ kind: 'fallback', ...route(cand), fields: { fromModel: lastRoute.modelId, fromProvider: lastRoute.providerId, reason: lastReason || 'failed' } });
      }
      lastRoute = cand;
      current = cand;

      const k = keyOf(cand);
      const adapter = this.deps.adapters.get(cand.providerId)!;
      const adj = adjustFor.get(k);
      const quirks: Partial<ProviderQuirks> = { ...this.deps.modelQuirks?.(cand.providerId, cand.modelId) };
      if (adj?.noSystemRole) quirks.systemRole = false;
      const timeouts: CallTimeouts = {
        ...L.timeouts,
        totalMs: Math.max(1, Math.min(L.timeouts.totalMs, remaining)),
        firstTokenMs: Math.max(1, Math.min(L.timeouts.firstTokenMs, remaining)),
      };
      let sentThisAttempt = 0;
      const onDelta = input.onDelta;
      const callOpts: CallOptions = {
        upstreamModel: cand.upstreamModel,
        request: toChatRequest(request, maxOutOf(cand)),
        stream: L.upstreamStream,
        timeouts,
        modelQuirks: quirks,
        stripPrefill: adj?.stripPrefill === true,
      };
      if (signal) callOpts.signal = signal;
      if (onDelta) {
        callOpts.onDelta = (d) => {
          if (d.content) {
            sentThisAttempt += d.content.length;
            forwardedChars += d.content.length;
            onDelta(d.content);
          }
        };
      }
      const startedAt = this.now();
      // From here the provider has (or may have) the request: an abort no longer makes the attempt free.
      const requestSent = signal?.aborted !== true;
      const r = await adapter.call(callOpts);
      const price = priceOf(cand);
      const n = attempts.length + 1;
      const outcome = r.ok ? 'success' : outcomeOf(r.error.class);
      if (outcome) {
        const rep: Parameters<RouterSignals['recordAttempt']>[0] = {
          modelId: cand.modelId,
          providerId: cand.providerId,
          taskType,
          outcome,
          totalMs: r.totalMs,
          at: this.now(),
          // The breaker ignores results of calls sent before it opened (they say nothing new).
          startedAt,
        };
        if (afterModelFailure) rep.afterModelFailure = true;
        if (r.ttftMs !== null) rep.ttftMs = r.ttftMs;
        if (r.ok) rep.outputTokens = r.usage.outputTokens;
        if (!r.ok && r.error.retryAfterMs !== undefined) rep.retryAfterMs = r.error.retryAfterMs;
        this.deps.signals.recordAttempt(rep);
      }
      if (!r.ok && (r.error.class === 'refusal' || r.error.class === 'invalid_output')) afterModelFailure = true;

      if (r.ok) {
        const cost = callCostMicros(r.usage.inputTokens, r.usage.outputTokens, price);
        attempts.push({
          n,
          modelId: cand.modelId,
          providerId: cand.providerId,
          upstreamModel: cand.upstreamModel,
          ok: true,
          error: null,
          status: null,
          latencyMs: r.totalMs,
          ttftMs: r.ttftMs,
          usage: r.usage,
          costMicros: cost,
          kind,
          waitedMs: waited,
          adjustments: r.adjustments,
          simulated: r.simulated,
        });
        const fields: Record<string, string | number> = {
          attempt: n,
          latencyMs: r.totalMs,
          inputTokens: r.usage.inputTokens,
          outputTokens: r.usage.outputTokens,
          costMicros: cost,
          finishReason: r.finishReason,
          simulated: r.simulated ? 1 : 0,
        };
        if (r.ttftMs !== null) fields.ttftMs = r.ttftMs;
        if (r.usageEstimated) fields.usageEstimated = 1;
        if (r.adjustments.length) fields.adjustments = r.adjustments.join(',');
        emit({ kind: 'provider_ok', ...route(cand), fields });
        answer = { c: cand, r, cost };
        break;
      }

      // Failure: never billed as a completion; what the provider reported using counts against the budget.
      const e = r.error;
      lastError = e;
      // Except when the caller went away after the request was out: the provider bills the tokens it
      // generated, so the caller pays for them (uncapped here; the gateway caps every charge at the hold).
      const billed = e.class === 'aborted' && requestSent ? abortedAttemptCost(r.partialUsage, inputTokens, sentThisAttempt, price) : null;
      if (r.partialUsage && !billed) wastedMicros += callCostMicros(r.partialUsage.inputTokens, r.partialUsage.outputTokens, price);
      attempts.push({
        n,
        modelId: cand.modelId,
        providerId: cand.providerId,
        upstreamModel: cand.upstreamModel,
        ok: false,
        error: e,
        status: e.status ?? null,
        latencyMs: r.totalMs,
        ttftMs: r.ttftMs,
        usage: r.partialUsage ?? billed?.usage ?? null,
        costMicros: billed?.costMicros ?? 0,
        kind,
        waitedMs: waited,
        adjustments: r.adjustments,
        simulated: r.simulated,
      });
      const fields: Record<string, string | number> = { attempt: n, errorClass: e.class, status: e.status ?? 0, latencyMs: r.totalMs };
      if (e.detail) fields.detail = e.detail;
      if (e.retryAfterMs !== undefined) fields.retryAfterMs = e.retryAfterMs;
      if (r.ttftMs !== null) fields.ttftMs = r.ttftMs;
      if (sentThisAttempt > 0) fields.streamedChars = sentThisAttempt;
      if (billed) {
        fields.inputTokens = billed.usage.inputTokens;
        fields.outputTokens = billed.usage.outputTokens;
        fields.costMicros = billed.costMicros;
        if (!r.partialUsage) fields.usageEstimated = 1;
      }
      emit({ kind: 'provider_error', ...route(cand), fields });
      lastReason = e.detail === 'prefill_rejected' || e.detail === 'system_role_rejected' ? e.detail : e.class;

      const d = this.decideNext(e, r, cand, L, {
        forwardedChars,
        sameRetries: sameRetries.get(k) ?? 0,
        adjusted: adj,
        othersLeft: queue.length > 0,
        deadline,
      });
      if (d.action === 'stop') {
        stop = d.reason;
        break;
      }
      if (d.action === 'retry') {
        sameRetries.set(k, (sameRetries.get(k) ?? 0) + 1);
        if (d.adjust === 'strip_prefill') adjustFor.set(k, { ...adj, stripPrefill: true });
        if (d.adjust === 'no_system_role') adjustFor.set(k, { ...adj, noSystemRole: true });
        pending = d;
        continue;
      }
      if (d.excludeModel) excludedModels.add(cand.modelId);
      if (d.excludeProvider) excludedProviders.add(cand.providerId);
      if (d.needLargerContext) {
        const ctx = contextOf(cand);
        // Unknown window: at least never this model again.
        if (ctx !== undefined) minContextExclusive = Math.max(minContextExclusive, ctx);
        tooSmallModels.add(cand.modelId);
      }
    }

    const latencyMs = this.now() - started;
    let result: ExecuteResult;
    if (answer) {
      const { c, r, cost } = answer;
      emit({
        kind: 'completed',
        ...route(c),
        fields: {
          attempts: attempts.length,
          inputTokens: r.usage.inputTokens,
          outputTokens: r.usage.outputTokens,
          costMicros: cost,
          latencyMs,
          finishReason: r.finishReason,
          fellBack: first && keyOf(first) !== keyOf(c) ? 1 : 0,
        },
      });
      result = {
        ok: true,
        modelId: c.modelId,
        providerId: c.providerId,
        upstreamModel: c.upstreamModel,
        content: r.content,
        toolCalls: r.toolCalls,
        finishReason: r.finishReason,
        usage: r.usage,
        usageEstimated: r.usageEstimated,
        costMicros: cost,
        wastedMicros,
        attempts,
        skipped,
        fellBack: !!first && keyOf(first) !== keyOf(c),
        latencyMs,
        ttftMs: r.ttftMs,
        rawModel: r.rawModel,
        simulated: r.simulated,
        aborted: false,
        reason: null,
        error: null,
        partialOutputStreamed: false,
        message: `answered by ${c.providerId}/${c.modelId} after ${attempts.length} attempt(s)`,
      };
    } else {
      const reason: StopReason = stop ?? 'all_failed';
      const message = describeFailure(reason, lastError, attempts.length, skipped.length);
      const fields: Record<string, string | number> = { reason, attempts: attempts.length, skipped: skipped.length };
      if (lastError) {
        fields.errorClass = lastError.class;
        fields.status = lastError.status ?? 0;
      }
      if (forwardedChars > 0) fields.streamedChars = forwardedChars;
      emit({ kind: 'rejected', fields });
      result = {
        ok: false,
        modelId: null,
        providerId: null,
        upstreamModel: null,
        content: '',
        toolCalls: [],
        finishReason: 'error',
        usage: null,
        usageEstimated: false,
        // Only an attempt the caller aborted after sending is billed (at most one: an abort stops the walk).
        costMicros: attempts.reduce((sum, a) => sum + a.costMicros, 0),
        wastedMicros,
        attempts,
        skipped,
        fellBack: false,
        latencyMs,
        ttftMs: null,
        rawModel: null,
        simulated: attempts.some((a) => a.simulated),
        aborted: reason === 'aborted',
        reason,
        error: lastError,
        partialOutputStreamed: forwardedChars > 0,
        message,
      };
    }
    if (!input.callerAwaitsEmits) await Promise.allSettled(emitted);
    return result;
  }

  private decideNext(
    e: ProviderError,
    r: ProviderResult,
    c: ScoredCandidate,
    L: ExecutionLimits,
    s: { forwardedChars: number; sameRetries: number; adjusted: { stripPrefill?: boolean; noSystemRole?: boolean } | undefined; othersLeft: boolean; deadline: number },
  ): Decision {
    if (e.class === 'aborted') return { action: 'stop', reason: 'aborted' };
    // The caller's client has seen part of this answer: switching models silently would splice two answers.
    if (s.forwardedChars > 0) return { action: 'stop', reason: 'partial_output_streamed' };
    const fitsDeadline = (ms: number): boolean => this.now() + ms + MIN_ATTEMPT_MS < s.deadline;
    const jitter = (n: number): number => Math.floor(this.random() * Math.min(L.backoffMaxMs, L.backoffBaseMs * 2 ** n));
    void c;
    switch (e.class) {
      case 'rate_limited': {
        const ra = e.retryAfterMs;
        if (ra !== undefined) {
          if (ra <= L.maxRetryAfterWaitMs && s.sameRetries < L.rateLimitRetries && fitsDeadline(ra)) return { action: 'retry', waitMs: Math.max(ra, 1) };
          return { action: 'failover' };
        }
        if (s.sameRetries < L.rateLimitRetries) {
          const w = Math.max(1, jitter(s.sameRetries + 1));
          if (fitsDeadline(w)) return { action: 'retry', waitMs: w };
        }
        return { action: 'failover' };
      }
      case 'overloaded': {
        const unavailable = e.status === 503 || e.status === 529 || e.status === undefined;
        if ((unavailable && s.othersLeft) || s.sameRetries >= L.serverErrorRetries) return { action: 'failover' };
        const ra = e.retryAfterMs;
        if (ra !== undefined && ra > L.maxRetryAfterWaitMs) return { action: 'failover' };
        const w = ra ?? Math.max(1, jitter(0));
        return fitsDeadline(w) ? { action: 'retry', waitMs: w } : { action: 'failover' };
      }
      case 'connection_reset':
        if (r.ttftMs === null && s.sameRetries < L.resetRetries) return { action: 'retry', waitMs: 0 };
        return { action: 'failover' };
      case 'context_length':
        return { action: 'failover', needLargerContext: true };
      case 'refusal':
        return L.onRefusal === 'fail' ? { action: 'stop', reason: 'refusal' } : { action: 'failover', excludeModel: true };
      case 'auth':
        return { action: 'failover', excludeProvider: true };
      case 'bad_request':
        if (e.detail === 'prefill_rejected') {
          if (L.onPrefillRejected === 'strip' && !s.adjusted?.stripPrefill) return { action: 'retry', waitMs: 0, adjust: 'strip_prefill' };
          return { action: 'failover' };
        }
        if (e.detail === 'system_role_rejected') {
          if (!s.adjusted?.noSystemRole) return { action: 'retry', waitMs: 0, adjust: 'no_system_role' };
          return { action: 'failover' };
        }
        // A request that no model accepts: trying others would only repeat the error (and bill nothing).
        return e.detail === 'not_found' ? { action: 'failover' } : { action: 'stop', reason: 'not_retryable' };
      default:
        return e.retryable ? { action: 'failover' } : { action: 'stop', reason: 'not_retryable' };
    }
  }
}

/**
 * What an attempt the caller aborted after the request went out cost: the provider's reported usage when
 * it sent any, else the plan's input estimate plus the output forwarded to the caller (4 characters a
 * token, rounded up). Integer micro-USD.
 */
export function abortedAttemptCost(
  partialUsage: Usage | null,
  estimatedInputTokens: number,
  forwardedChars: number,
  price: { inputPerMTokMicros: number; outputPerMTokMicros: number },
): { usage: Usage; costMicros: number } {
  const usage: Usage = partialUsage ?? { inputTokens: estimatedInputTokens, outputTokens: Math.ceil(forwardedChars / 4) };
  return { usage, costMicros: callCostMicros(usage.inputTokens, usage.outputTokens, price) };
}

function describeFailure(reason: StopReason, e: ProviderError | null, attempts: number, skipped: number): string {
  const last = e ? ` (last error: ${e.class}${e.status ? ` ${e.status}` : ''})` : '';
  switch (reason) {
    case 'partial_output_streamed':
      return `the answer failed after part of it was streamed to the client${last}; not switching models mid-answer`;
    case 'aborted':
      return 'the caller went away; the provider call was aborted';
    case 'retry_budget':
      return `retry budget spent after ${attempts} attempt(s)${last}`;
    case 'deadline':
      return `deadline reached after ${attempts} attempt(s)${last}`;
    case 'refusal':
      return `the model refused to answer${last}`;
    case 'not_retryable':
      return `the provider rejected the request${last}`;
    default:
      return attempts === 0
        ? `no candidate could be tried (${skipped} skipped: breaker open, budget or exclusions)`
        : `all ${attempts} attempt(s) failed${last}`;
  }
}

/** Convenience: an executor's execute function. */
export function createExecutor(deps: ExecutorDeps): (input: ExecuteInput) => Promise<ExecuteResult> {
  return new Executor(deps).execute;
}
