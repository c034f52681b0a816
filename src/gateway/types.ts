// The gateway's public API: the one call path (DESIGN.md "The path of one call") as the GraphQL `route`
// mutation and the OpenAI-compatible endpoint see it. Results are a discriminated union on `type`, whose
// values match the GraphQL type names, so resolvers map them one to one. Expected failures are results,
// never exceptions; only programming/infrastructure errors (store down, chain append failed) throw.
// Money is integer micro-USD. Everything here is plain JSON-serializable data (it is persisted in the
// decision record so an idempotent replay returns the same result).
import type { Envelope, EventInput } from '../chain/types.js';
import type { ErrorClass, ToolCallResult, Usage } from '../providers/types.js';
import type { Classification, Plan, PlanOptions, RouteRequest, RouterSignals, RoutingPolicy, ScoredCandidate, TaskType } from '../routing/types.js';
import type { ExecuteFn } from './execute-port.js';
import type { AgentRecord, Store } from '../store/port.js';

export type { RouteRequest } from '../routing/types.js';
export type { AgentRecord } from '../store/port.js';

/** Per-call options that are not part of the request itself. */
export interface RouteCallOptions {
  /** A repeated (agent, key) returns the stored decision's result instead of calling a provider again. 1..200 chars. */
  idempotencyKey?: string;
  /** Aborts the provider call (client disconnect). The call then ends as AllAttemptsFailed with class `aborted`. */
  signal?: AbortSignal;
  /** Streamed completion text as it arrives, with the (model, provider) of the attempt producing it. */
  onDelta?: (text: string, from: { model: string; provider: string }) => void;
  /** Called once the decision exists (after validation, before planning): lets a stream name it up front. */
  onStart?: (info: { decisionId: string }) => void;
  /**
   * Wall time of each phase of the call as it ends (metrics: where a call's time goes). A call that is
   * refused or fails early reports only the phases it reached.
   */
  onPhase?: (phase: RoutePhase, ms: number) => void;
}

/**
 * The phases of a routed call, in order: `admit` (validation, request digests, idempotency lookup, the
 * decision record), `plan` (routing), `hold` (the ledger hold), `provider` (every attempt, fallbacks
 * included), `chain` (until the call's entries, its settlement included, are durable), `settle`
 * (decision and hold settled, the final record written).
 */
export const ROUTE_PHASES = ['admit', 'plan', 'hold', 'provider', 'chain', 'settle'] as const;
export type RoutePhase = (typeof ROUTE_PHASES)[number];

/** One provider attempt of a decision, as the caller and the admin may see it (never prompt or completion text). */
export interface AttemptView {
  /** 1-based attempt number. */
  n: number;
  model: string;
  provider: string;
  ok: boolean;
  /** Null when ok. */
  errorClass: ErrorClass | null;
  errorDetail: string | null;
  /** HTTP status the provider answered with, if any. */
  status: number | null;
  /** Human-readable error (never contains a key, the prompt or the completion). Null when ok. */
  message: string | null;
  latencyMs: number;
  ttftMs: number | null;
  usage: Usage | null;
  /** Billed cost of this attempt: the answering attempt's cost, 0 for failed attempts (never billed). */
  costMicros: number;
}

/** The explainable decision: how the task was typed, every scored candidate, every attempt. */
export interface DecisionView {
  taskType: TaskType;
  classification: Classification;
  /** Every candidate the router scored, with refusal reasons on the ineligible ones. */
  candidates: ScoredCandidate[];
  attempts: AttemptView[];
}

interface ResultBase {
  decisionId: string;
  /** Seqs of the chain entries this decision wrote, in order. */
  chainSeqs: number[];
  /** True when this result was returned from an earlier call with the same idempotency key. */
  replayed: boolean;
}

export interface RouteSuccess extends ResultBase {
  type: 'RouteSuccess';
  /** Catalog model id that actually answered. */
  model: string;
  provider: string;
  content: string;
  toolCalls: ToolCallResult[];
  /** stop | length | tool_calls | ... */
  finishReason: string;
  usage: Usage;
  /** What the agent was charged (the answering attempt only). */
  costMicros: number;
  /** The worst-case hold taken before any provider call; holdMicros - costMicros was refunded. */
  holdMicros: number;
  /** Agent's balance right after the refund. */
  balanceMicros: number;
  /** Wall time of the whole call, ms. */
  latencyMs: number;
  /** True when the answering provider is the simulated fleet. */
  simulated: boolean;
  decision: DecisionView;
}

export interface RouteNoEligibleModel extends ResultBase {
  type: 'NoEligibleModel';
  taskType: TaskType;
  /** One-line human summary. */
  message: string;
  /** Every candidate with every reason it was refused (`refusals`). */
  candidates: ScoredCandidate[];
}

export interface RouteInsufficientCredit extends ResultBase {
  type: 'InsufficientCredit';
  /** The worst-case hold the plan needed. */
  requiredMicros: number;
  balanceMicros: number;
  message: string;
}

export interface RouteAllAttemptsFailed extends ResultBase {
  type: 'AllAttemptsFailed';
  message: string;
  /** Each attempt with its error class. */
  attempts: AttemptView[];
  /** True when the caller aborted (client disconnect). */
  aborted: boolean;
  /** 0 (failed attempts are not billed), except when the caller aborted after a provider had the request: what that attempt used, capped at the hold. */
  costMicros: number;
  decision: DecisionView;
}

/** Bad input: nothing was written (no chain entry, no decision, no money moved). */
export interface RouteValidationError {
  type: 'ValidationError';
  /** Path of the offending field, e.g. `messages.2.content`, `caps.costCeilingMicros`, `idempotencyKey`. */
  field: string;
  message: string;
}

export type RouteCallResult =
  | RouteSuccess
  | RouteNoEligibleModel
  | RouteInsufficientCredit
  | RouteAllAttemptsFailed
  | RouteValidationError;

export interface ReportOutcomeResult {
  decisionId: string;
  /** Seq of the `feedback` chain entry. */
  chainSeq: number;
  model: string;
  taskType: TaskType;
  success: boolean;
}

/** Base of the typed errors reportOutcome throws. `code` is stable for API mapping. */
export class GatewayError extends Error {
  constructor(
    message: string,
    readonly code: 'DECISION_NOT_FOUND' | 'FOREIGN_DECISION' | 'NO_MODEL_ANSWERED' | 'FEEDBACK_ALREADY_GIVEN' | 'INVALID_INPUT',
    readonly field?: string,
  ) {
    super(message);
  }
}
/** No decision with that id. */
export class DecisionNotFoundError extends GatewayError {
  override readonly name = 'DecisionNotFoundError';
  constructor(id: string) {
    super(`no decision ${JSON.stringify(id)}`, 'DECISION_NOT_FOUND', 'decisionId');
  }
}
/** The decision belongs to another agent. API layers may prefer to show it as not found. */
export class ForeignDecisionError extends GatewayError {
  override readonly name = 'ForeignDecisionError';
  constructor(id: string) {
    super(`decision ${JSON.stringify(id)} belongs to another agent`, 'FOREIGN_DECISION', 'decisionId');
  }
}
/** The decision has no answering model (rejected, failed or still pending): there is nothing to judge. */
export class NoModelAnsweredError extends GatewayError {
  override readonly name = 'NoModelAnsweredError';
  constructor(id: string) {
    super(`decision ${JSON.stringify(id)} has no completion to give feedback on`, 'NO_MODEL_ANSWERED', 'decisionId');
  }
}
/** Feedback counts once per decision (else one caller could outvote everyone). */
export class FeedbackAlreadyGivenError extends GatewayError {
  override readonly name = 'FeedbackAlreadyGivenError';
  constructor(id: string) {
    super(`feedback on decision ${JSON.stringify(id)} was already given`, 'FEEDBACK_ALREADY_GIVEN', 'decisionId');
  }
}
/** Bad reportOutcome input (e.g. reason too long). */
export class GatewayInputError extends GatewayError {
  override readonly name = 'GatewayInputError';
  constructor(message: string, field: string) {
    super(message, 'INVALID_INPUT', field);
  }
}

export interface Gateway {
  routeCall(agent: AgentRecord, request: RouteRequest, opts?: RouteCallOptions): Promise<RouteCallResult>;
  /** Caller feedback on one of its own completed decisions; throws a GatewayError subclass otherwise. */
  reportOutcome(agent: AgentRecord, decisionId: string, success: boolean, reason?: string | null): Promise<ReportOutcomeResult>;
  /** Resolves when every in-flight call has finished (graceful shutdown). */
  drain(): Promise<void>;
}

/**
 * The chain appender, as the gateway uses it (src/chain/appender.ts). `append` must refuse (invalid event,
 * closed, backpressure) without I/O or timers, i.e. reject before the microtask queue drains: the gateway
 * holds no money until the call's `request` event is known to be accepted, and does not wait for it to be
 * durable before calling the provider (only before answering).
 */
export interface GatewayAppender {
  /** `linger`: no one waits for this entry yet; it may wait briefly to share a commit (ChainAppender's AppendOptions). */
  append(event: EventInput, opts?: { linger?: boolean }): Promise<Envelope & { seq: number }>;
  /**
   * Commit lingering entries now (a call is about to wait for its entries). Required: a wrapper that
   * forwarded append but not this would make every call wait out the appender's linger.
   */
  commitNow(): void;
}

/**
 * What createGateway needs. `execute` is the fallback executor of src/routing/execute.ts (passed as is);
 * `router` and `signals` come from src/routing. Only the fields used here are required of them.
 */
export interface GatewayDeps {
  store: Store;
  appender: GatewayAppender;
  router: { plan(request: RouteRequest, opts: PlanOptions): Plan };
  signals: Pick<RouterSignals, 'recordFeedback'>;
  /** The fallback executor (src/routing/execute.ts). */
  execute: ExecuteFn;
  /** Policy for agents that have none of their own (config.defaultAgentPolicy). */
  defaultAgentPolicy?: RoutingPolicy;
  /** Provider ids of the simulated fleet (labelled simulated on every surface). */
  simulatedProviders?: ReadonlySet<string>;
  /** Clock, epoch ms (tests). */
  now?: () => number;
}
