// The one call path (DESIGN.md): validate → request event → plan → hold the worst case → execute with
// fallbacks → refund → decision record → result. Both the GraphQL `route` mutation and the
// OpenAI-compatible endpoint call routeCall, so every call is billed, audited and explained the same way.
//
// Money invariants: the hold is taken atomically by the store before any provider is called, so the
// balance never goes negative; the charge is the answering attempt's cost (never more than the hold);
// failed attempts are not billed, except an attempt the caller aborted after the provider had the request
// (the provider bills what it generated); whatever happens (executor throws, chain append fails, abort,
// the process dies), the unspent part of the hold is given back exactly once: the hold is an accounts
// ledger entry keyed by the decision, settled by one idempotent store step (see "The money" in run()).
import { storedPolicy } from '../accounts/accounts.js';
import { logger } from '../log.js';
import { ERROR_CLASSES, type ErrorClass } from '../providers/types.js';
import type { PlanOk, RouteRequest, RoutingPolicy, ScoredCandidate } from '../routing/types.js';
import type { AgentRecord, DecisionRecord } from '../store/port.js';
import { StoreConflictError } from '../store/port.js';
import type { BoundEmit, ExecutedAttempt, ExecuteOutput } from './execute-port.js';
import {
  DecisionNotFoundError,
  FeedbackAlreadyGivenError,
  ForeignDecisionError,
  GatewayInputError,
  NoModelAnsweredError,
  type AttemptView,
  type DecisionView,
  type Gateway,
  type GatewayDeps,
  type ReportOutcomeResult,
  type RouteCallOptions,
  type RouteCallResult,
  type RoutePhase,
  type RouteValidationError,
} from './types.js';
import { decodeCandidates, encodeCandidates, type EncodedCandidates } from './decision-codec.js';
import { randomHex } from './random-pool.js';
import { LIMITS, newRequestSalt, requestDigests, validateIdempotencyKey, validateRouteRequest } from './validate.js';

/** Private detail persisted on the decision record (visible to the calling agent and the admin only). */
export interface DecisionDetail {
  v: 1;
  /** `0x` + SHA-256 of the normalized request's canonical JSON (never the text). Private: compared on idempotent replays. */
  requestHash: string;
  /**
   * Hex of the 32-byte salt of the public `request` entry's `requestCommitment` (HMAC-SHA256 keyed with it):
   * the agent reveals it, with its request, to prove which request a decision answered. Absent on records
   * written before commitments were salted.
   */
  requestSalt?: string;
  /** The decision with its candidates in the compact stored form (decision-codec.ts); read it through storedDecision. */
  decision: StoredDecisionView | null;
  message: string | null;
  /**
   * The result as returned, so a repeated idempotency key gets the same answer. Completion text is kept
   * only when the caller asked for idempotency (it is needed to replay); otherwise content is dropped.
   */
  result: RouteCallResult | null;
}

/** A decision as stored: candidates compact (or a plain array on records written before the codec). */
export type StoredDecisionView = Omit<DecisionView, 'candidates'> & { candidates: EncodedCandidates | ScoredCandidate[] };

function toStored(decision: DecisionView | null): StoredDecisionView | null {
  return decision && { ...decision, candidates: encodeCandidates(decision.candidates) };
}

/** The stored decision with its candidates decoded (the one way to read detail.decision). */
export function storedDecision(stored: unknown): DecisionView | null {
  if (!stored || typeof stored !== 'object') return null;
  const d = stored as StoredDecisionView;
  const candidates = decodeCandidates(d.candidates);
  return candidates === undefined || candidates === d.candidates ? (d as DecisionView) : { ...d, candidates };
}

/** Reports each phase's wall time since the previous one (nothing when nobody listens). */
function phaseClock(onPhase: ((phase: RoutePhase, ms: number) => void) | undefined): (phase: RoutePhase) => void {
  if (!onPhase) return () => undefined;
  let last = performance.now();
  return (phase) => {
    const t = performance.now();
    try {
      onPhase(phase, t - last);
    } catch (err) {
      logger.warn({ err, phase }, 'onPhase listener threw');
    }
    last = t;
  };
}

const KNOWN_ERROR_CLASSES: ReadonlySet<string> = new Set(ERROR_CLASSES);

/** Longest a call can run (executor deadline plus slack): a pending record older than this was abandoned. */
const PENDING_WAIT_MS = 150_000;

/** How many times a call that lost its idempotency key's insert race to an aborted call runs fresh. */
const FRESH_RUN_ATTEMPTS = 3;

function newDecisionId(nowMs: number): string {
  // Time-prefixed so ids sort roughly by creation; 64 random bits keep them unguessable.
  return `d_${nowMs.toString(36)}${randomHex(8)}`;
}

/** A catch handler that logs a store failure on the error path (the original error is what is thrown) and yields null. */
function logged(decision: string, micros: number, msg: string): (err: unknown) => null {
  return (err: unknown) => {
    logger.error({ err, decision, micros }, msg);
    return null;
  };
}

function safeInt(n: unknown): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function toAttemptView(a: ExecutedAttempt, i: number): AttemptView {
  const r = a.result;
  const ok = a.ok ?? r?.ok ?? false;
  const err = a.error ?? (r && !r.ok ? r.error : null);
  const cls = err?.class && KNOWN_ERROR_CLASSES.has(err.class) ? (err.class as ErrorClass) : err ? ('bad_request' as ErrorClass) : null;
  const usage = a.usage ?? (r ? (r.ok ? r.usage : r.partialUsage) : null);
  return {
    n: i + 1,
    model: a.modelId,
    provider: a.providerId,
    ok,
    errorClass: ok ? null : cls,
    errorDetail: ok ? null : (err?.detail ?? null),
    status: ok ? null : (err?.status ?? null),
    message: ok ? null : (err?.message ?? null),
    latencyMs: safeInt(a.latencyMs ?? r?.totalMs),
    ttftMs: a.ttftMs ?? r?.ttftMs ?? null,
    usage: usage ?? null,
    // Failed attempts are free, except one the caller aborted after the provider had the request.
    costMicros: ok || cls === 'aborted' ? safeInt(a.costMicros) : 0,
  };
}

/** A candidate's worst case; one that is not a safe integer cannot be held, so it counts as unaffordable. */
function worstOf(c: ScoredCandidate): number {
  const w = c.worstCaseCostMicros;
  return Number.isSafeInteger(w) && w >= 0 ? w : Number.MAX_SAFE_INTEGER;
}

/** Largest worst-case cost among the attempts: any one of them may end up answering. */
function worstCase(attempts: readonly ScoredCandidate[]): number {
  return attempts.reduce((m, c) => Math.max(m, worstOf(c)), 0);
}

/**
 * What an answered call is charged: the executor's cost, never above the hold. A cost that is not a
 * non-negative safe integer (a provider reporting absurd usage overflows the arithmetic) is unknown, so
 * the caller pays the hold, the most it agreed to - never 0, which would give the answer away.
 */
function chargeFor(costMicros: unknown, holdMicros: number): number {
  if (typeof costMicros === 'number' && Number.isSafeInteger(costMicros) && costMicros >= 0) return Math.min(costMicros, holdMicros);
  return holdMicros;
}

/**
 * The result as stored for replay. The decision (candidates, attempts) is stored once beside it and put
 * back on replay; completion text only when an idempotency key makes a replay possible.
 */
function storable(result: RouteCallResult, keepContent: boolean): RouteCallResult {
  switch (result.type) {
    case 'RouteSuccess':
      return { ...result, decision: STRIPPED, ...(keepContent ? {} : { content: '', toolCalls: [] }) };
    case 'AllAttemptsFailed':
      return { ...result, decision: STRIPPED };
    case 'NoEligibleModel':
      return { ...result, candidates: [] };
    default:
      return result;
  }
}

/** Placeholder for the decision inside a stored result (the real one is detail.decision). */
const STRIPPED = null as unknown as DecisionView;

function restore(stored: RouteCallResult, decision: DecisionView | null): RouteCallResult {
  if (!decision) return stored;
  switch (stored.type) {
    case 'RouteSuccess':
    case 'AllAttemptsFailed':
      return { ...stored, decision };
    case 'NoEligibleModel':
      return { ...stored, candidates: decision.candidates };
    default:
      return stored;
  }
}

/**
 * Resolves once the appender has accepted a chain event (validated and queued), rejects with its refusal.
 *
 * Durability of the call's entries is NOT awaited here, on purpose. The appender refuses without I/O or
 * timers - validation, closed, backpressure (ChainAppender.append rejects "at once, nothing queued"), even
 * behind async wrappers (tracing, metrics, an `async append`) - so a refusal has settled once the
 * microtask queue has drained. That is what this waits for: a process.nextTick queued from a microtask
 * runs only after the microtask queue is empty, before any timer, I/O callback or setImmediate.
 * Waiting a macrotask instead (setImmediate, as before) let the appender's commit of the pre-call batch
 * - a synchronous SQLite fsync on the main thread - run first, so every call waited for two fsyncs in
 * sequence (pre-call batch, then the last batch) and the provider request went out only after the first.
 *
 * Why the guarantees hold without that wait:
 * - no money moves for a refused call: a refusal settles within the drain, before the hold;
 * - nothing is acknowledged before it is durable: the response waits for every entry of the call
 *   (`settleEmits` in `finish`), so the pre-call entries' fsync overlaps the provider round trip instead
 *   of preceding it, and is still on disk before the caller hears anything;
 * - a crash in between leaves no acknowledged call unrecorded (none was acknowledged); a hold taken
 *   before the crash is in the accounts holds ledger, keyed by the pending decision, and given back by
 *   the recovery sweep (recovery.ts), which also writes its refunded entry.
 * What can still fail later (the store write itself) surfaces when the call settles its entries.
 */
function accepted(entry: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    entry.then(
      () => resolve(),
      (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
    );
    queueMicrotask(() => process.nextTick(resolve));
  });
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { store, appender, router, signals, execute } = deps;
  const now = deps.now ?? Date.now;
  const simulated = deps.simulatedProviders ?? new Set<string>();
  const inFlight = new Set<Promise<unknown>>();
  /** (agent id, idempotency key) → the call running in this process. */
  const byKey = new Map<string, Promise<RouteCallResult>>();
  const feedbackLocks = new Set<string>();

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /** The stored answer for a used key, or null when that call's caller went away and the key was released (run fresh). */
  async function replay(agent: AgentRecord, d: DecisionRecord, hash: string, opts: RouteCallOptions): Promise<RouteCallResult | null> {
    let rec: DecisionRecord | null = d;
    // Another process may still be running it: wait for it to finish, but no longer than a call can
    // last (a record left pending by a crashed process is answered at once once that time has passed).
    // A call is settled a moment before its result is stored (its final record, which also sets the
    // latency): a retry in that window waits too, rather than answer "did not finish" - unless the call
    // released its key (its caller went away), which is final.
    const deadline = Date.parse(d.createdAt) + PENDING_WAIT_MS;
    const running = (r: DecisionRecord): boolean =>
      r.outcome === 'pending' || (r.idempotencyKey !== null && r.latencyMs === null && !(r.detail as DecisionDetail | null)?.result);
    while (rec && running(rec) && now() < deadline && !opts.signal?.aborted) {
      await new Promise((r) => setTimeout(r, 50));
      rec = (await store.decisions.byIds([d.id]))[0] ?? null;
    }
    const detail = rec?.detail as DecisionDetail | null | undefined;
    if (!rec || rec.agentId !== agent.id) throw new Error('idempotent decision vanished');
    if (rec.outcome !== 'pending' && rec.idempotencyKey !== (opts.idempotencyKey ?? null)) return null;
    if (detail?.requestHash !== undefined && detail.requestHash !== hash) {
      return { type: 'ValidationError', field: 'idempotencyKey', message: 'idempotencyKey: already used with a different request' };
    }
    if (!detail?.result) {
      return { type: 'ValidationError', field: 'idempotencyKey', message: 'idempotencyKey: an earlier call with this key did not finish' };
    }
    return { ...restore(detail.result, storedDecision(detail.decision)), replayed: true } as RouteCallResult;
  }

  async function routeCall(agent: AgentRecord, input: RouteRequest, opts: RouteCallOptions = {}): Promise<RouteCallResult> {
    const lap = phaseClock(opts.onPhase);
    const v = validateRouteRequest(input);
    if (!v.ok) return v.error;
    const keyError = validateIdempotencyKey(opts.idempotencyKey);
    if (keyError) return keyError;
    const request = v.request;
    const salt = newRequestSalt();
    const { hash, commitment } = requestDigests(request, salt);
    const key = opts.idempotencyKey ?? null;

    if (key !== null) {
      const mapKey = `${agent.id}\u0000${key}`;
      // Loops only when the call found under the key ended because its caller went away (the key was
      // released): then this call runs fresh, unless another waiter has started the fresh run first.
      for (;;) {
        const running = byKey.get(mapKey);
        if (running) {
          const first = await running;
          if (first.type === 'ValidationError') return first;
          const [d] = await store.decisions.byIds([first.decisionId]);
          if (!d) return first;
          const replayed = await replay(agent, d, hash, opts);
          if (replayed) return replayed;
          continue;
        }
        const existing = await store.decisions.byIdempotencyKey(agent.id, key);
        if (existing) {
          const replayed = await replay(agent, existing, hash, opts);
          if (replayed) return replayed;
          continue;
        }
        if (!byKey.has(mapKey)) break;
      }
      const p = track(run(agent, request, { hash, salt, commitment: commitment! }, key, opts, lap));
      byKey.set(mapKey, p);
      try {
        return await p;
      } finally {
        byKey.delete(mapKey);
      }
    }
    return track(run(agent, request, { hash, salt, commitment: commitment! }, null, opts, lap));
  }

  async function run(
    agent: AgentRecord,
    request: RouteRequest,
    digests: { hash: string; salt: string; commitment: string },
    key: string | null,
    opts: RouteCallOptions,
    lap: (phase: RoutePhase) => void,
  ): Promise<RouteCallResult> {
    const { hash, salt } = digests;
    // Renewed if this call loses the insert race for its idempotency key and then runs fresh (below).
    let started = now();
    let decisionId = newDecisionId(started);
    const seqs: number[] = [];
    const pendingEmits = new Set<Promise<unknown>>();
    // The attempt currently running, as the executor's events name it (for deltas that do not say).
    let current: { model: string; provider: string } | null = null;
    // Chain events are not awaited one by one (each would wait for a disk sync): the appender sequences
    // them in call order, and all of them are awaited (durable) before the result is returned. They
    // linger until then (at most the appender's lingerMs), so a call's entries share one commit.
    let chainError: unknown = null;
    const emit: BoundEmit = (event) => {
      if (event.model && event.provider) current = { model: event.model, provider: event.provider };
      const p = appender.append({ ...event, agent: agent.handle, decision: decisionId }, { linger: true }).then(
        (env) => {
          seqs.push(env.seq);
          return env;
        },
        (err: unknown) => {
          chainError ??= err;
          throw err;
        },
      );
      pendingEmits.add(p);
      void p.finally(() => pendingEmits.delete(p)).catch(() => undefined);
      return p;
    };
    /** Waits until every chain entry of this call is durable (a failed append is logged; before money settles, it leaves the call to the sweep). */
    const settleEmits = async (): Promise<number[]> => {
      appender.commitNow();
      while (pendingEmits.size) await Promise.allSettled([...pendingEmits]);
      if (chainError) {
        logger.error({ err: chainError, decision: decisionId }, 'a chain entry of this decision could not be appended');
      }
      return [...seqs].sort((a, b) => a - b);
    };

    const newRecord = (): DecisionRecord => ({
      id: decisionId,
      agentId: agent.id,
      createdAt: new Date(started).toISOString(),
      taskType: request.taskType ?? 'chat',
      model: null,
      provider: null,
      outcome: 'pending',
      holdMicros: 0, // written when the decision settles; until then the hold lives in the accounts ledger
      costMicros: 0,
      latencyMs: null,
      idempotencyKey: key,
      chainSeqs: [],
      detail: { v: 1, requestHash: hash, requestSalt: salt, decision: null, message: null, result: null } satisfies DecisionDetail,
      feedback: null,
    });
    const onDelta = opts.onDelta;
    for (let attempt = 1; ; attempt++) {
      try {
        await store.decisions.insert(newRecord());
        break;
      } catch (err) {
        if (key === null || !(err instanceof StoreConflictError) || err.field !== 'idempotencyKey') throw err;
        // Another process took the same idempotency key a moment ago: answer with its result...
        const other = await store.decisions.byIdempotencyKey(agent.id, key);
        const replayed = other ? await replay(agent, other, hash, opts) : null;
        if (replayed) return replayed;
        // ...unless that call ended because its caller went away, which released the key: this call then
        // runs fresh, as a new decision (a new id and start: its wait must not count towards its own
        // deadline, or a recovery sweep could take a live call for abandoned). Bounded: every retry follows
        // another process's aborted call winning the key first, which cannot be a reason to loop forever.
        if (attempt >= FRESH_RUN_ATTEMPTS) throw err;
        started = now();
        decisionId = newDecisionId(started);
      }
    }

    opts.onStart?.({ decisionId });
    lap('admit');
    // The money, in the order that keeps every crash point recoverable (recovery.ts settles what a dead
    // process left; a hold is exactly-once by itself, store port `settleHold`):
    //   1. hold: balance - worst case, and a ledger hold keyed by this decision, in one atomic store step.
    //      Dying after it leaves the decision pending and the hold open: the sweep claims the decision
    //      once past its deadline (failed, charge 0) and gives the whole hold back.
    //   2. say it on the chain first: the call's entries, through a `refunded` entry with the charge, are
    //      made durable together (the call's one commit) before any money settles, so no money moves for
    //      a call the chain does not show. Dying after it leaves the chain saying what the call charged
    //      and the decision pending: the sweep settles with that charge and adds no entry of its own.
    //   3. settle the decision (conditional on `pending`): it now records the charge. Dying after it leaves
    //      a settled decision with an open hold: the sweep settles the hold with the recorded charge.
    //      Losing this step to a sweep (a call that outlived its deadline) means the sweep settled it
    //      (with the charge on the chain if it saw it durable, else 0); this call then reports an error.
    //   4. settle the hold with that same charge: whoever settles it first (this call or a sweep) refunds
    //      hold - charge, once. Dying after it loses nothing.
    // The reverse order (hold before decision) would leave, at a crash in between, a pending decision
    // whose hold was already settled with a charge - which the sweep would then record as failed and free.
    let openHold: number | null = null; // micros of the ledger hold this call took and has not settled
    let settledCost: number | null = null; // the charge this call recorded on the decision (step 3)
    // What step 2 put on the chain (the decision's settling patch with its charge): an error after it
    // settles to match the chain, never with a different charge.
    let chained: { patch: Partial<DecisionRecord>; cost: number } | null = null;
    // The decision must stay pending for the recovery sweep, which settles it from what the chain holds:
    // this call's entries did not all become durable, or its settlement could not be written after the
    // chain had stated it. Settling here could contradict the chain.
    let leaveToSweep = false;
    const finish = async (
      result: RouteCallResult,
      patch: Partial<DecisionRecord>,
      decision: DecisionView | null,
      message: string | null,
    ): Promise<RouteCallResult> => {
      const chainSeqs = await settleEmits();
      const final = 'chainSeqs' in result ? ({ ...result, chainSeqs } as RouteCallResult) : result;
      const detail: DecisionDetail = { v: 1, requestHash: hash, requestSalt: salt, decision: toStored(decision), message, result: storable(final, key !== null) };
      await store.decisions.update(decisionId, { ...patch, chainSeqs, latencyMs: now() - started, detail });
      // Rejected calls end here without a money phase; settled ones close their last phase.
      if (settledCost !== null) lap('settle');
      return final;
    };

    try {
      const requestEntry = emit({
        kind: 'request',
        fields: {
          // Salted: an unsalted hash would let anyone confirm a guessed prompt.
          requestCommitment: digests.commitment,
          messages: request.messages.length,
          tools: request.tools?.length ?? 0,
          ...(request.maxOutputTokens !== undefined ? { maxOutputTokens: request.maxOutputTokens } : {}),
          stream: request.stream ? 1 : 0,
        },
      });

      const agentPolicy: RoutingPolicy | undefined = (storedPolicy(agent) ?? deps.defaultAgentPolicy) as RoutingPolicy | undefined;
      const plan = router.plan(request, agentPolicy ? { agentPolicy, now: now() } : { now: now() });
      lap('plan');
      if (!plan.ok) {
        const refused = plan.candidates.filter((c) => !c.eligible).length;
        void emit({ kind: 'rejected', fields: { reason: 'no_eligible_model', taskType: plan.taskType, candidates: plan.candidates.length, refused } });
        const decision: DecisionView = { taskType: plan.taskType, classification: plan.classification, candidates: plan.candidates, attempts: [] };
        return await finish(
          { type: 'NoEligibleModel', decisionId, taskType: plan.taskType, message: plan.message, candidates: plan.candidates, chainSeqs: [], replayed: false },
          { outcome: 'rejected', taskType: plan.taskType },
          decision,
          plan.message,
        );
      }

      // No money moves for a call the chain did not accept: wait until the request entry is accepted.
      await accepted(requestEntry);

      // Hold the worst case of every attempt the executor may walk. If the balance cannot cover the
      // costliest fallback, keep the attempts it can cover rather than refuse outright.
      let attempts = plan.attempts;
      let holdMicros = worstCase(attempts);
      const holdAt = new Date(started).toISOString(); // the hold's age is the call's: the sweep's deadline test
      let hold = await store.accounts.hold(agent.id, decisionId, holdMicros, holdAt);
      if (!hold.ok) {
        const affordable = attempts.filter((c) => worstOf(c) <= hold.balanceMicros);
        if (affordable.length > 0) {
          attempts = affordable;
          holdMicros = worstCase(affordable);
          hold = await store.accounts.hold(agent.id, decisionId, holdMicros, holdAt);
        }
      }
      const decisionBase = { taskType: plan.taskType, classification: plan.classification, candidates: plan.candidates };
      if (!hold.ok) {
        const requiredMicros = plan.attempts.reduce((m, c) => Math.min(m, worstOf(c)), Number.MAX_SAFE_INTEGER);
        const message = `insufficient credit: the cheapest eligible model needs a hold of ${requiredMicros} micro-USD, balance is ${hold.balanceMicros}`;
        // An agent's balance is its owner's business: the public chain records what moved, never what is left.
        void emit({ kind: 'rejected', fields: { reason: 'insufficient_credit', taskType: plan.taskType, requiredMicros } });
        return await finish(
          { type: 'InsufficientCredit', decisionId, requiredMicros, balanceMicros: hold.balanceMicros, message, chainSeqs: [], replayed: false },
          { outcome: 'rejected', taskType: plan.taskType },
          { ...decisionBase, attempts: [] },
          message,
        );
      }
      // The ledger knows this hold from here on (no separate write to record it on the decision).
      openHold = holdMicros;
      lap('hold');
      void emit({ kind: 'debited', fields: { holdMicros, taskType: plan.taskType } });

      const execPlan: PlanOk = attempts === plan.attempts ? plan : { ...plan, attempts };
      let out: ExecuteOutput;
      try {
        out = await execute({
          plan: execPlan,
          request,
          emit,
          // settleEmits (in finish) waits for them, together with this call's refunded entry: one commit.
          callerAwaitsEmits: true,
          budgetMicros: holdMicros,
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(onDelta
            ? {
                onDelta: (text: string, from?: { modelId: string; providerId: string }) => {
                  const who = from ? { model: from.modelId, provider: from.providerId } : current;
                  onDelta(text, who ?? { model: 'unknown', provider: 'unknown' });
                },
              }
            : {}),
        });
      } catch (err) {
        logger.error({ err, decision: decisionId }, 'executor failed');
        out = { ok: false, attempts: [], message: 'internal error while calling providers' };
      }
      lap('provider');
      const attemptViews = out.attempts.map(toAttemptView);
      const decision: DecisionView = { ...decisionBase, attempts: attemptViews };

      const model = out.modelId ?? null;
      const provider = out.providerId ?? null;
      const answered = out.ok && model !== null && provider !== null;
      const aborted = !answered && (out.aborted ?? (opts.signal?.aborted === true || attemptViews.some((a) => a.errorClass === 'aborted')));
      // An aborted call pays for what the provider had generated when the caller left (the executor prices
      // it; 0 when the abort came before the request went out). Other failures are free.
      const billable = answered || (aborted && typeof out.costMicros === 'number' && out.costMicros > 0);
      const cost = billable ? chargeFor(out.costMicros, holdMicros) : 0;
      if (billable && cost !== out.costMicros) {
        // Prices moved, the provider overran max tokens or reported unusable usage: never charge beyond the hold.
        logger.warn({ decision: decisionId, costMicros: out.costMicros, holdMicros }, 'cost unusable or above the hold; charging the hold');
      }
      const refundMicros = holdMicros - cost;
      // Step 2: the chain first - this call's entries and its settlement, durable in one commit.
      void emit({
        kind: 'refunded',
        ...(answered ? { model: model!, provider: provider! } : {}),
        fields: { holdMicros, costMicros: cost, refundMicros },
      });
      const settling: Partial<DecisionRecord> = {
        outcome: answered ? 'completed' : 'failed',
        model,
        provider,
        costMicros: cost,
        holdMicros,
        taskType: plan.taskType,
        // The caller went away: nobody got this result, so it is not replayable and a retry with the key
        // runs fresh. Cleared in the same write that settles, so no replay ever sees it settled with the key.
        ...(aborted && key !== null ? { idempotencyKey: null } : {}),
      };
      await settleEmits();
      if (chainError) {
        // No money moves without its durable record: the sweep settles it (with the charge the chain
        // shows, if the refunded entry landed; else it gives the whole hold back and says so).
        leaveToSweep = true;
        throw new Error(`decision ${decisionId}: its chain entries could not all be made durable; its hold is left to the recovery sweep`);
      }
      chained = { patch: settling, cost };
      lap('chain');
      // Step 3: settle the decision. Conditional, so a sweep that already claimed it wins cleanly.
      const settled = await store.decisions.updateIfPending(decisionId, settling);
      if (!settled) {
        openHold = null; // the sweep that claimed it settles the hold (charge 0) and says so on the chain
        throw new Error(`decision ${decisionId} was settled by another process (recovered): it gives the hold back`);
      }
      settledCost = cost;
      // Step 4: settle the hold with the recorded charge (already on the chain).
      const given = await store.accounts.settleHold(agent.id, decisionId, cost);
      openHold = null;
      // Not settled here: a recovery sweep settled it first, with the same charge (the decision records it).
      if (!given.settled) logger.warn({ decision: decisionId }, 'the hold was settled by a recovery sweep before this call could');
      const balanceMicros = given.balanceMicros;

      if (answered && model && provider) {
        const answering = [...attemptViews].reverse().find((a) => a.ok);
        if (answering) answering.costMicros = cost;
        const usage = out.usage ?? answering?.usage ?? { inputTokens: 0, outputTokens: 0 };
        return await finish(
          {
            type: 'RouteSuccess',
            decisionId,
            model,
            provider,
            content: out.content ?? '',
            toolCalls: out.toolCalls ?? [],
            finishReason: out.finishReason ?? 'stop',
            usage,
            costMicros: cost,
            holdMicros,
            balanceMicros,
            latencyMs: now() - started,
            simulated: out.simulated ?? simulated.has(provider),
            decision,
            chainSeqs: [],
            replayed: false,
          },
          {}, // outcome, model, provider, cost, hold and task type were written when the decision was settled
          decision,
          null,
        );
      }
      if (cost > 0) {
        const charged = [...attemptViews].reverse().find((a) => a.errorClass === 'aborted');
        if (charged) charged.costMicros = cost;
      }
      const message =
        out.message ??
        (aborted
          ? 'the caller went away; the provider call was aborted'
          : attemptViews.length
            ? `all ${attemptViews.length} attempts failed: ${attemptViews.map((a) => `${a.provider}/${a.model} ${a.errorClass ?? 'error'}`).join(', ')}`
            : 'no attempt could be made');
      return await finish(
        { type: 'AllAttemptsFailed', decisionId, message, attempts: attemptViews, aborted, costMicros: cost, decision, chainSeqs: [], replayed: false },
        {}, // settled above
        decision,
        message,
      );
    } catch (err) {
      // Infrastructure failure (store, chain): settle the hold this call still has open, with the charge
      // the decision records - the one this call settled it with, else 0 once this call has marked it
      // failed. If a sweep settled the decision instead, the hold is the sweep's to settle. settleHold is
      // exactly-once, so repeating one that went through but reported an error moves nothing.
      const openMicros = openHold;
      openHold = null;
      let settledHere = false; // this catch moved the decision out of pending
      if (openMicros !== null) {
        let charge = settledCost;
        if (charge === null && chained) {
          // The chain already says what this call charged (step 2): settle to match it, never differently.
          const c = chained;
          settledHere = (await store.decisions.updateIfPending(decisionId, c.patch).catch(logged(decisionId, openMicros, 'could not settle a decision; its hold is left to the recovery sweep'))) !== null;
          if (settledHere) charge = c.cost;
          // Not settled here: marking it failed now would record a charge of 0 against the chain's.
          else leaveToSweep = true;
        } else if (charge === null && !leaveToSweep) {
          settledHere = (await store.decisions.updateIfPending(decisionId, { outcome: 'failed' }).catch(logged(decisionId, openMicros, 'could not mark a failed decision; its hold is left to the recovery sweep'))) !== null;
          if (settledHere) charge = 0;
        }
        if (charge !== null) {
          const costMicros = charge;
          const given = await store.accounts.settleHold(agent.id, decisionId, costMicros).catch(logged(decisionId, openMicros, 'could not settle a hold; left to the recovery sweep'));
          // Said already when step 2 ran; otherwise this is the settlement's only record.
          if (given?.settled && !chained) void emit({ kind: 'refunded', fields: { holdMicros: openMicros, costMicros, refundMicros: given.refundMicros } });
          // Already settled: most likely this call's own settle, which went through but reported an error
          // (or a sweep's, which wrote the entry). Not repeated: the ledger moved the money once.
          else if (given) logger.warn({ decision: decisionId, micros: openMicros }, 'hold already settled after an error; no refunded entry from this call');
        }
      }
      appender.commitNow();
      await Promise.allSettled([...pendingEmits]);
      const chainSeqs = [...seqs].sort((a, b) => a - b);
      const latencyMs = now() - started;
      const owned = !settledHere && !leaveToSweep && (await store.decisions.updateIfPending(decisionId, { outcome: 'failed', chainSeqs, latencyMs }).catch(logged(decisionId, 0, 'could not mark a failed decision')));
      if (!owned) await store.decisions.update(decisionId, { chainSeqs, latencyMs }).catch(() => undefined);
      throw err;
    }
  }

  async function reportOutcome(agent: AgentRecord, decisionId: string, success: boolean, reason?: string | null): Promise<ReportOutcomeResult> {
    if (typeof decisionId !== 'string' || decisionId.length === 0 || decisionId.length > 100) throw new GatewayInputError('decisionId must be a decision id', 'decisionId');
    if (typeof success !== 'boolean') throw new GatewayInputError('success must be a boolean', 'success');
    if (reason !== undefined && reason !== null && (typeof reason !== 'string' || reason.length > LIMITS.reasonChars)) {
      throw new GatewayInputError(`reason must be a string of at most ${LIMITS.reasonChars} characters`, 'reason');
    }
    if (feedbackLocks.has(decisionId)) throw new FeedbackAlreadyGivenError(decisionId);
    feedbackLocks.add(decisionId);
    try {
      const [d] = await store.decisions.byIds([decisionId]);
      if (!d) throw new DecisionNotFoundError(decisionId);
      if (d.agentId !== agent.id) throw new ForeignDecisionError(decisionId);
      if (d.outcome !== 'completed' || !d.model) throw new NoModelAnsweredError(decisionId);
      if (d.feedback) throw new FeedbackAlreadyGivenError(decisionId);
      const at = now();
      const taskType = d.taskType as ReportOutcomeResult['taskType'];
      signals.recordFeedback({ modelId: d.model, taskType, success, at });
      // The reason is the caller's free text: it stays in the private record, never on the chain.
      const env = await appender.append({
        kind: 'feedback',
        agent: agent.handle,
        decision: decisionId,
        model: d.model,
        ...(d.provider ? { provider: d.provider } : {}),
        fields: { success: success ? 1 : 0, taskType },
      });
      await store.decisions.update(decisionId, {
        feedback: { success, reason: reason ?? null, at: new Date(at).toISOString() },
        chainSeqs: [...d.chainSeqs, env.seq],
      });
      return { decisionId, chainSeq: env.seq, model: d.model, taskType, success };
    } finally {
      feedbackLocks.delete(decisionId);
    }
  }

  return {
    routeCall,
    reportOutcome,
    async drain() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
  };
}

export type { RouteValidationError };
