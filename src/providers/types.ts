// Wire and result types of the provider layer. The wire shapes follow OpenAI chat completions,
// which most hosts speak; everything else in the system talks to providers through these types.

/** One content part of a multimodal message (OpenAI format). */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: string; [k: string]: unknown };

export interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: WireToolCall[];
  tool_call_id?: string;
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean };
    };

/** The request body the adapter sends, before quirks and the upstream model id are applied. */
export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  response_format?: ResponseFormat;
  /** Output cap; sent as max_tokens or max_completion_tokens depending on the provider's quirks. */
  maxOutputTokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
}

/** Time limits of one provider call, all in milliseconds. */
export interface CallTimeouts {
  /** TCP/TLS connect (applies to new pooled connections). */
  connectMs: number;
  /** From sending the request to the first content/tool-call delta (non-streaming: to the response headers). */
  firstTokenMs: number;
  /** Longest silence between two body chunks once the stream has started. */
  stallMs: number;
  /** The whole call. */
  totalMs: number;
}

export const DEFAULT_TIMEOUTS: CallTimeouts = { connectMs: 3_000, firstTokenMs: 15_000, stallMs: 10_000, totalMs: 120_000 };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface ToolCallResult {
  id: string;
  name: string;
  /** Raw JSON text as the model produced it (validated to parse). */
  arguments: string;
}

/** A piece of output as it streams, forwarded to the caller's onDelta. */
export interface Delta {
  content?: string;
  /** Tool-call fragments: index identifies the call; id/name arrive once, arguments in pieces. */
  toolCalls?: { index: number; id?: string; name?: string; arguments?: string }[];
}

export type ErrorClass =
  | 'rate_limited'
  | 'overloaded'
  | 'timeout_connect'
  | 'timeout_first_token'
  | 'timeout_stall'
  | 'timeout_total'
  | 'connection_reset'
  | 'stream_cut'
  | 'malformed_stream'
  | 'refusal'
  | 'context_length'
  | 'bad_request'
  | 'auth'
  | 'invalid_output'
  /** The caller's AbortSignal fired: not the provider's fault, never retried. */
  | 'aborted';

export const ERROR_CLASSES: readonly ErrorClass[] = [
  'rate_limited', 'overloaded', 'timeout_connect', 'timeout_first_token', 'timeout_stall', 'timeout_total',
  'connection_reset', 'stream_cut', 'malformed_stream', 'refusal', 'context_length', 'bad_request', 'auth',
  'invalid_output', 'aborted',
];

/** Finer reason where the class alone does not tell the executor what to do next. */
export type ErrorDetail =
  | 'prefill_rejected'
  | 'system_role_rejected'
  | 'content_filter'
  | 'provider_refusal'
  | 'invalid_json'
  | 'invalid_tool_arguments'
  | 'not_found'
  /** Nobody answered at the provider's address (refused, no such host, no route): classed like a 503. */
  | 'unreachable';

export interface ProviderError {
  class: ErrorClass;
  detail?: ErrorDetail;
  /** HTTP status when the provider answered with one. */
  status?: number;
  /** How long the provider asked us to wait (Retry-After, retry-after-ms, x-ratelimit-reset-*). */
  retryAfterMs?: number;
  /** Human-readable, never contains the API key, the prompt or the completion. */
  message: string;
  /** Worth trying elsewhere (another model/provider). */
  retryable: boolean;
  /** Worth trying the same (provider, model) again (after a wait where retryAfterMs says so). */
  sameModelRetryable: boolean;
}

/** Measurements common to success and failure. */
export interface CallTiming {
  /** ms from sending the request to the first content delta; null if none arrived. */
  ttftMs: number | null;
  totalMs: number;
  /** Characters already passed to onDelta: non-zero means the caller's client may have seen output. */
  streamedChars: number;
}

export interface ProviderSuccess extends CallTiming {
  ok: true;
  content: string;
  toolCalls: ToolCallResult[];
  /** stop | length | tool_calls | ... as the provider sent it. */
  finishReason: string;
  usage: Usage;
  /** True when the provider sent no usage and the counts were estimated from text length. */
  usageEstimated: boolean;
  /** Output tokens per second after the first token (null when not measurable). */
  outputTokensPerSec: number | null;
  /** The model id the provider reported answering with. */
  rawModel: string | null;
  /** True when the provider labelled itself simulated (the loopback fleet). */
  simulated: boolean;
  /** What the adapter changed in the request for this provider's quirks (e.g. prefill_stripped). */
  adjustments: string[];
}

export interface ProviderFailure extends CallTiming {
  ok: false;
  error: ProviderError;
  /** Tokens the provider reported before failing, if any (for accounting, never billed as a completion). */
  partialUsage: Usage | null;
  simulated: boolean;
  adjustments: string[];
}

export type ProviderResult = ProviderSuccess | ProviderFailure;
