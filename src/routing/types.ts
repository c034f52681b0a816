// Shared routing shapes: the normalized request, policy, classification, the plan the router returns,
// and the feedback API the fallback executor reports into. Pure types (no Node-only imports).
// Times are epoch milliseconds; money is integer micro-USD.
import type { Capability, PriceSource } from '../catalog/types.js';
import type { ResponseFormat, ToolChoice, ToolDefinition } from '../providers/types.js';

export const TASK_TYPES = ['tool_use', 'vision', 'extraction', 'code', 'reasoning', 'summarization', 'drafting', 'chat'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

// ---------------------------------------------------------------------------------------------
// The normalized request (OpenAI chat-completions shape)

export interface TextPart {
  type: 'text';
  text: string;
}
export interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}
export type ContentPart = TextPart | ImagePart;

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface SystemMessage {
  role: 'system';
  content: string | TextPart[];
  name?: string;
}
export interface UserMessage {
  role: 'user';
  content: string | ContentPart[];
  name?: string;
}
export interface AssistantMessage {
  role: 'assistant';
  content?: string | TextPart[] | null;
  tool_calls?: ToolCall[];
  name?: string;
}
export interface ToolMessage {
  role: 'tool';
  content: string | TextPart[];
  tool_call_id: string;
}
export type ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolMessage;

// Tools, tool choice and response format are the wire shapes, defined once beside the adapter that sends them.
export type { ResponseFormat, ToolChoice, ToolDefinition } from '../providers/types.js';

/** Per-call limits. Any field left out is resolved from task-type / agent / default policy. */
export interface Caps {
  /** Cost ceiling per call, integer micro-USD (applied to the worst-case cost). */
  costCeilingMicros?: number;
  /** Latency target per call (predicted total time), ms. */
  latencyTargetMs?: number;
  /** The bar: minimum finish probability, 0..1. */
  minFinishProbability?: number;
}

/** Restrict routing to a model and/or a provider (catalog model id / provider id). */
export interface Pin {
  model?: string;
  provider?: string;
}

export interface RouteRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  maxOutputTokens?: number;
  temperature?: number;
  stream?: boolean;
  /** Caller-stated task type: wins over classification. */
  taskType?: TaskType;
  caps?: Caps;
  pin?: Pin;
}

// ---------------------------------------------------------------------------------------------
// Policy (resolution order: per call > per task type > per agent > defaults)

/** One layer of policy: caps and an optional pin. */
export interface PolicyLayer {
  caps?: Caps;
  pin?: Pin;
}

/** An agent's policy (same shape as config.ts `agentPolicySchema`). */
export interface RoutingPolicy extends PolicyLayer {
  byTaskType?: Partial<Record<TaskType, PolicyLayer>>;
}

/** System-wide defaults (config.ts `routing`). */
export interface RoutingDefaults {
  caps?: Caps;
  /** Bar per task type. */
  bar?: Partial<Record<TaskType, number>>;
  /** Bar when neither the call, the agent nor `bar[taskType]` sets one. */
  defaultBar?: number;
  /** Share of calls (0..1) that explore a less-sampled eligible model. */
  exploration?: number;
}

/** Which layer a resolved value came from. */
export type PolicySource = 'call' | 'agent_task' | 'agent' | 'default_task' | 'default' | 'none';

export interface ResolvedCaps {
  costCeilingMicros: number | null;
  latencyTargetMs: number | null;
  minFinishProbability: number;
  pin: Pin | null;
  sources: {
    costCeilingMicros: PolicySource;
    latencyTargetMs: PolicySource;
    minFinishProbability: PolicySource;
    pin: PolicySource;
  };
}

// ---------------------------------------------------------------------------------------------
// Classification

export interface Classification {
  taskType: TaskType;
  /** True when the caller stated the task type. */
  stated: boolean;
  /** The features that decided, e.g. ['tools_offered'], ['image_part'], ['keyword:summarize', 'long_input']. */
  features: string[];
  /** Capabilities the request requires of any model (tools, vision, json_schema / json_mode). */
  requires: Capability[];
}

// ---------------------------------------------------------------------------------------------
// Breakers

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerSnapshot {
  state: BreakerState;
  /** When open: epoch ms at which it becomes half-open. */
  until: number | null;
  /** When half-open: whether the single probe is taken. */
  probeInFlight: boolean;
  consecutiveFailures: number;
}

export interface BreakerTransition {
  providerId: string;
  modelId: string;
  from: BreakerState;
  to: BreakerState;
  at: number;
  /** e.g. 'rate_limited', 'consecutive_failures', 'failure_rate', 'probe_succeeded', 'probe_failed', 'cooldown_elapsed'. */
  reason: string;
  /** When opening: open until (epoch ms). */
  until?: number;
}

// ---------------------------------------------------------------------------------------------
// Refusals: why a candidate is not eligible. Every refusal carries a human message.

export type Refusal =
  | { kind: 'lacks_capability'; capability: Capability; message: string }
  | { kind: 'context_too_small'; needTokens: number; contextWindow: number; message: string }
  | { kind: 'pinned_out'; pin: Pin; message: string }
  | { kind: 'breaker_open'; until: number | null; state: BreakerState; message: string }
  | { kind: 'over_cost_cap'; byMicros: number; worstCaseCostMicros: number; expectedCostMicros: number; capMicros: number; message: string }
  | { kind: 'over_latency_target'; predictedMs: number; targetMs: number; byMs: number; message: string }
  | { kind: 'below_bar'; probability: number; bar: number; message: string }
  | { kind: 'excluded'; reason: string; message: string };

export type RefusalKind = Refusal['kind'];

// ---------------------------------------------------------------------------------------------
// The plan

export interface CandidatePrice {
  inputPerMTokMicros: number;
  outputPerMTokMicros: number;
  source: PriceSource;
  readAt: number;
}

export interface ScoredCandidate {
  modelId: string;
  providerId: string;
  upstreamModel: string;
  /** Posterior mean finish probability for (task type, model). */
  finishProbability: number;
  /** Pseudo-observations behind it (prior strength + observed). */
  outcomeEvidence: number;
  /** Expected cost at the estimated input and expected output tokens. */
  expectedCostMicros: number;
  /** Cost with the full output budget (maxOutputTokens) at the current price: what gets held. */
  worstCaseCostMicros: number;
  /** Output budget for this model (the request's, clamped to the model's limit): send it as max_tokens so the worst case holds. */
  maxOutputTokens: number;
  /** Output tokens the expected cost and latency assume (learned per task type and model, else a per-task default). */
  expectedOutputTokens: number;
  predictedLatencyMs: number;
  predictedTtftMs: number;
  /** 'measured' once enough samples exist for (provider, model), else 'reference'. */
  latencySource: 'measured' | 'reference';
  price: CandidatePrice;
  breaker: BreakerState;
  eligible: boolean;
  refusals: Refusal[];
  /** True when this candidate was put first by exploration rather than by score. */
  explored: boolean;
  /** 1-based position in `attempts`, 0 when not eligible. */
  rank: number;
}

export interface PlanEstimate {
  inputTokens: number;
  expectedOutputTokens: number;
  /** Output budget used for the worst case (the request's maxOutputTokens, else the default). */
  maxOutputTokens: number;
}

export interface PlanOk {
  ok: true;
  taskType: TaskType;
  classification: Classification;
  caps: ResolvedCaps;
  estimate: PlanEstimate;
  /** Every candidate, scored, with refusal reasons on the ineligible ones. */
  candidates: ScoredCandidate[];
  /** Eligible candidates in the order the executor walks them (same objects as in `candidates`). */
  attempts: ScoredCandidate[];
  /** Whether exploration reordered the first attempt. */
  explored: boolean;
  at: number;
}

export interface NoEligibleModel {
  ok: false;
  kind: 'NoEligibleModel';
  taskType: TaskType;
  classification: Classification;
  caps: ResolvedCaps;
  estimate: PlanEstimate;
  /** Every candidate with every reason it was refused. */
  candidates: ScoredCandidate[];
  /** One-line human summary. */
  message: string;
  at: number;
}

export type Plan = PlanOk | NoEligibleModel;

export interface PlanOptions {
  agentPolicy?: RoutingPolicy;
  /** Epoch ms; defaults to Date.now(). */
  now?: number;
  /** Exact input tokens when the caller knows them; else estimated from the request (chars/4, images fixed). */
  inputTokens?: number;
  /** (provider, model) pairs to leave out, e.g. after a context_length failure: `${providerId}/${modelId}` or a model id. */
  exclude?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Feedback from the executor (what happened on each attempt)

export const ATTEMPT_OUTCOMES = [
  'success',
  'rate_limited',
  'overloaded',
  'timeout',
  'connection',
  'refusal',
  'context_length',
  'bad_request',
  'auth',
  'invalid_output',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export interface AttemptReport {
  modelId: string;
  providerId: string;
  taskType: TaskType;
  outcome: AttemptOutcome;
  /** Time to first token, ms (streaming or first byte of body). */
  ttftMs?: number;
  /** Total call time, ms. */
  totalMs?: number;
  outputTokens?: number;
  /** From a 429/503 Retry-After header, ms. */
  retryAfterMs?: number;
  /** Epoch ms when the attempt ended. */
  at: number;
  /** Epoch ms when the attempt was sent: lets the breaker ignore calls that were in flight before it opened. */
  startedAt?: number;
  /**
   * True when an earlier attempt of the same call ended in a model failure (refusal or invalid output):
   * the request is then likely a hard one, so a failure here says less about this model (it is weighted
   * down), while a success counts in full. Leave unset for first attempts and after provider errors.
   */
  afterModelFailure?: boolean;
}

export interface FeedbackReport {
  modelId: string;
  taskType: TaskType;
  /** Caller's verdict on the completion. */
  success: boolean;
  at?: number;
}

/**
 * What the executor calls. Outcomes split two ways: provider errors (rate_limited, overloaded, timeout,
 * connection, auth) feed the availability breaker and never lower the finish probability; model outcomes
 * (success, refusal, invalid_output, caller feedback) update the finish probability for (task type, model).
 * context_length and bad_request count against neither (a property of the request, not of the model's health).
 */
export interface RouterSignals {
  recordAttempt(report: AttemptReport): void;
  recordFeedback(report: FeedbackReport): void;
  /** Closed, or half-open with the probe slot free. No side effect. */
  isAvailable(modelId: string, providerId: string, now: number): boolean;
  /**
   * Call right before sending an attempt. Closed: true. Half-open: true for exactly one caller (the probe)
   * until that probe's recordAttempt arrives. Open: false.
   */
  tryAcquire(modelId: string, providerId: string, now: number): boolean;
  breakerState(modelId: string, providerId: string, now: number): BreakerSnapshot;
  /** Breaker transitions (for chain/log). Returns an unsubscribe function. */
  onBreakerTransition(listener: (t: BreakerTransition) => void): () => void;
}
