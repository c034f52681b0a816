// The adapter for OpenAI-compatible chat completions (Groq, Novita, Together, DeepInfra, OpenAI, DeepSeek,
// Z.ai, Alibaba, MiniMax and the simulated fleet). One call = one HTTP request on a pooled keep-alive
// undici client. Our own timers (first token, stall, total) classify timeouts precisely; a stream that
// stalls, is cut or carries a malformed event is a failure, never a truncated success.
import type { Dispatcher } from 'undici';
import { classifyHttpError, classifyNetworkError, classifyStreamErrorPayload, providerError, scrub } from './errors.js';
import { defaultPools, type ProviderPools } from './pool.js';
import { buildWireBody, resolveQuirks, type ProviderQuirks } from './quirks.js';
import { SseParser } from './sse.js';
import {
  DEFAULT_TIMEOUTS,
  type CallTimeouts,
  type ChatRequest,
  type Delta,
  type ProviderError,
  type ProviderResult,
  type ToolCallResult,
  type Usage,
} from './types.js';

export interface AdapterConfig {
  providerId: string;
  /** e.g. https://api.groq.com/openai/v1 or http://127.0.0.1:PORT/groq/v1 (we append /chat/completions). */
  baseUrl: string;
  /** Name of the env var holding the API key (read at call time, never logged). */
  apiKeyEnv?: string;
  /** A key passed directly (tests, embedding); takes precedence over apiKeyEnv. */
  apiKey?: string;
  /** Provider-level quirks on top of the known defaults for providerId. */
  quirks?: Partial<ProviderQuirks>;
  /** Pool registry (default: the process-wide one). */
  pools?: ProviderPools;
  /** Connect timeout of the pooled connections to this origin. */
  connectMs?: number;
  /** Extra headers (e.g. OpenRouter's HTTP-Referer). */
  headers?: Record<string, string>;
  /** Environment to read apiKeyEnv from (default process.env). */
  env?: Record<string, string | undefined>;
}

export interface CallOptions {
  /** The model id the provider expects. */
  upstreamModel: string;
  request: ChatRequest;
  /** Stream from the provider (default true: it gives TTFT, stall detection and early output). */
  stream?: boolean;
  timeouts?: Partial<CallTimeouts>;
  signal?: AbortSignal;
  /** Output as it arrives (streaming only). Throwing from it aborts the call as 'aborted'. */
  onDelta?: (delta: Delta) => void;
  /** Model-level quirks on top of the provider's. */
  modelQuirks?: Partial<ProviderQuirks>;
  /** Drop a trailing assistant prefill for this call (after the model rejected one). */
  stripPrefill?: boolean;
}

/** Largest error body we read (providers sometimes return HTML pages). */
const MAX_ERROR_BODY = 64 * 1024;
/** Largest non-streaming body we accept. */
const MAX_BODY = 16 * 1024 * 1024;

interface ToolAcc {
  id: string;
  name: string;
  arguments: string;
}

/** Why our own controller aborted the request. */
type AbortCause = { kind: 'failure'; error: ProviderError } | { kind: 'finished' };

export class OpenAICompatibleAdapter {
  readonly providerId: string;
  readonly baseUrl: string;
  private readonly quirks: ProviderQuirks;
  private readonly pools: ProviderPools;
  private readonly path: string;

  constructor(private readonly config: AdapterConfig) {
    if (!config.providerId) throw new TypeError('AdapterConfig.providerId is required');
    let url: URL;
    try {
      url = new URL(config.baseUrl);
    } catch {
      throw new TypeError(`AdapterConfig.baseUrl is not a URL: ${JSON.stringify(config.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('AdapterConfig.baseUrl must be http(s)');
    this.providerId = config.providerId;
    this.baseUrl = config.baseUrl.replace(/\/+$/, '');
    this.path = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
    this.quirks = resolveQuirks(config.providerId, config.quirks);
    this.pools = config.pools ?? defaultPools;
  }

  quirksFor(modelQuirks?: Partial<ProviderQuirks>): ProviderQuirks {
    return modelQuirks ? { ...this.quirks, ...modelQuirks } : this.quirks;
  }

  private apiKey(): string | undefined {
    if (this.config.apiKey) return this.config.apiKey;
    if (this.config.apiKeyEnv) return (this.config.env ?? process.env)[this.config.apiKeyEnv];
    return undefined;
  }

  /** One chat completion. Never throws for provider trouble: every failure is a typed result. */
  async call(opts: CallOptions): Promise<ProviderResult> {
    const t: CallTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    const stream = opts.stream ?? true;
    const quirks = this.quirksFor(opts.modelQuirks);
    const { body, adjustments } = buildWireBody(opts.request, {
      model: opts.upstreamModel,
      stream,
      quirks,
      stripPrefill: opts.stripPrefill ?? false,
    });
    const key = this.apiKey();
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);

    const ac = new AbortController();
    let cause: AbortCause | null = null;
    const abortWith = (c: AbortCause): void => {
      if (cause) return;
      cause = c;
      ac.abort();
    };
    const fail = (error: ProviderError): void => abortWith({ kind: 'failure', error });

    // Timers: total always; first token until the first output delta; stall between data events after it.
    const totalTimer = setTimeout(() => fail(providerError('timeout_total', `no complete answer within ${t.totalMs} ms`)), t.totalMs);
    let firstTokenTimer: NodeJS.Timeout | null = setTimeout(
      () => fail(providerError('timeout_first_token', `no first token within ${t.firstTokenMs} ms`)),
      t.firstTokenMs,
    );
    let stallTimer: NodeJS.Timeout | null = null;
    const armStall = (): void => {
      if (stallTimer) clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        // Silence after the finish_reason is the end of a stream that forgot [DONE], not a stall.
        if (finishReason !== null) abortWith({ kind: 'finished' });
        else fail(providerError('timeout_stall', `stream stalled for ${t.stallMs} ms`));
      }, t.stallMs);
    };
    const onCallerAbort = (): void => fail(providerError('aborted', 'call aborted by the caller'));
    if (opts.signal?.aborted) onCallerAbort();
    else opts.signal?.addEventListener('abort', onCallerAbort, { once: true });

    // Accumulated answer.
    let content = '';
    let refusalText = '';
    const tools: ToolAcc[] = [];
    let finishReason: string | null = null;
    let usage: Usage | null = null;
    let rawModel: string | null = null;
    let ttftMs: number | null = null;
    let streamedChars = 0;
    let simulated = false;
    let headersReceived = false;
    let sawDone = false;
    let res: Dispatcher.ResponseData | null = null;
    /** The body was read to its end or handed to a background drain; otherwise we destroy it. */
    let bodySettled = false;

    const markFirstToken = (): void => {
      if (ttftMs !== null) return;
      ttftMs = elapsed();
      if (firstTokenTimer) clearTimeout(firstTokenTimer);
      firstTokenTimer = null;
      armStall();
    };
    const timing = () => ({ ttftMs, totalMs: elapsed(), streamedChars });
    const failure = (error: ProviderError): ProviderResult => ({
      ok: false,
      error,
      partialUsage: usage,
      simulated,
      adjustments,
      ...timing(),
    });

    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: stream ? 'text/event-stream' : 'application/json',
        ...this.config.headers,
      };
      if (key) headers.authorization = `Bearer ${key}`;
      const pool = this.pools.get(this.baseUrl, { connectMs: this.config.connectMs ?? t.connectMs });
      res = await pool.request({
        path: this.path,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      headersReceived = true;
      simulated = res.headers['x-ainfera-simulated'] === '1';

      if (res.statusCode < 200 || res.statusCode >= 300) {
        const text = await readText(res.body, MAX_ERROR_BODY);
        bodySettled = true;
        return failure(classifyHttpError(res.statusCode, res.headers, text, key));
      }

      const ctype = String(res.headers['content-type'] ?? '');
      if (!stream || !ctype.includes('text/event-stream')) {
        // Non-streaming (or a provider that ignored stream: true): first token = the answer arriving.
        if (firstTokenTimer) clearTimeout(firstTokenTimer);
        firstTokenTimer = null;
        armStall();
        const text = await readText(res.body, MAX_BODY, armStall);
        bodySettled = true;
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return failure(providerError('malformed_stream', 'response body is not JSON'));
        }
        const j = json as CompletionJson;
        if (j.error) return failure(classifyStreamErrorPayload(j.error, key));
        ttftMs = elapsed();
        const choice = j.choices?.[0];
        rawModel = typeof j.model === 'string' ? j.model : null;
        if (j.system_fingerprint === 'ainfera-simulated') simulated = true;
        if (j.usage) usage = toUsage(j.usage);
        if (!choice) return failure(providerError('malformed_stream', 'response has no choices'));
        finishReason = finishReasonOf(choice.finish_reason);
        const msg = choice.message ?? {};
        content = typeof msg.content === 'string' ? msg.content : '';
        refusalText = typeof msg.refusal === 'string' ? msg.refusal : '';
        for (const tc of msg.tool_calls ?? []) {
          tools.push({ id: tc.id ?? '', name: tc.function?.name ?? '', arguments: tc.function?.arguments ?? '' });
        }
        if (finishReason === null) return failure(providerError('stream_cut', 'response has no finish_reason'));
      } else {
        const parser = new SseParser();
        const it = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        let complete = false;
        while (!complete) {
          const next = await it.next();
          if (next.done) {
            bodySettled = true;
            break;
          }
          for (const ev of parser.push(next.value)) {
            if (ev.data === '[DONE]') {
              sawDone = true;
              complete = true;
              break;
            }
            let chunk: ChunkJson;
            try {
              chunk = JSON.parse(ev.data) as ChunkJson;
            } catch {
              return failure(providerError('malformed_stream', `SSE event is not JSON (${ev.data.length} bytes)`));
            }
            if (!chunk || typeof chunk !== 'object') return failure(providerError('malformed_stream', 'SSE event is not an object'));
            if (chunk.error) return failure(classifyStreamErrorPayload(chunk.error, key));
            if (ttftMs !== null) armStall();
            if (typeof chunk.model === 'string' && chunk.model) rawModel = chunk.model;
            if (chunk.system_fingerprint === 'ainfera-simulated') simulated = true;
            if (chunk.usage) usage = toUsage(chunk.usage);
            const choice = chunk.choices?.[0];
            if (choice) {
              const d = choice.delta ?? {};
              const out: Delta = {};
              if (typeof d.content === 'string' && d.content.length > 0) {
                markFirstToken();
                content += d.content;
                out.content = d.content;
                streamedChars += d.content.length;
              }
              if (typeof d.reasoning_content === 'string' && d.reasoning_content.length > 0) markFirstToken();
              if (typeof d.refusal === 'string' && d.refusal.length > 0) {
                markFirstToken();
                refusalText += d.refusal;
              }
              if (Array.isArray(d.tool_calls) && d.tool_calls.length > 0) {
                markFirstToken();
                out.toolCalls = [];
                for (const tc of d.tool_calls) {
                  const idx = typeof tc.index === 'number' ? tc.index : tools.length === 0 ? 0 : tools.length - 1;
                  const acc = (tools[idx] ??= { id: '', name: '', arguments: '' });
                  if (tc.id) acc.id = tc.id;
                  if (tc.function?.name) acc.name += tc.function.name;
                  if (tc.function?.arguments) acc.arguments += tc.function.arguments;
                  const frag: NonNullable<Delta['toolCalls']>[number] = { index: idx };
                  if (tc.id) frag.id = tc.id;
                  if (tc.function?.name) frag.name = tc.function.name;
                  if (tc.function?.arguments) {
                    frag.arguments = tc.function.arguments;
                    streamedChars += tc.function.arguments.length;
                  }
                  out.toolCalls.push(frag);
                }
              }
              if ((out.content || out.toolCalls) && opts.onDelta) {
                try {
                  opts.onDelta(out);
                } catch (err) {
                  return failure(providerError('aborted', `onDelta threw: ${(err as Error)?.message ?? 'error'}`));
                }
              }
              if (choice.finish_reason) finishReason = finishReasonOf(choice.finish_reason);
            }
            // Finish promptly once the answer and its usage are in, whether or not [DONE] follows.
            if (finishReason !== null && (usage !== null || !quirks.streamUsage)) complete = true;
          }
        }
        if (complete && !bodySettled) {
          if (sawDone) {
            // [DONE] is the last event: the end of the body follows at once. Reading it here hands the
            // connection back to the pool before the next call needs one.
            bodySettled = await awaitEnd(it, Math.min(t.stallMs, 1_000));
          }
          if (!bodySettled) {
            drainInBackground(it, res.body);
            bodySettled = true;
          }
        }
        for (const ev of parser.end()) {
          if (ev.data === '[DONE]') sawDone = true;
        }
        if (finishReason === null) {
          return failure(
            providerError(
              'stream_cut',
              sawDone ? 'stream sent [DONE] without a finish_reason' : 'stream ended before a finish_reason',
            ),
          );
        }
      }
    } catch (err) {
      if (cause !== null) {
        const c = cause as AbortCause;
        if (c.kind === 'failure') return failure(c.error);
        // 'finished': silence after finish_reason; fall through to success below.
      } else {
        return failure(classifyNetworkError(err, headersReceived, key));
      }
    } finally {
      clearTimeout(totalTimer);
      if (firstTokenTimer) clearTimeout(firstTokenTimer);
      if (stallTimer) clearTimeout(stallTimer);
      opts.signal?.removeEventListener('abort', onCallerAbort);
      // A body we stopped reading mid-way leaves the connection in an unknown state: close it.
      if (res && !bodySettled) res.body.destroy();
    }

    // Whole answer in hand: judge it.
    if (finishReason === 'content_filter') {
      return failure(providerError('refusal', 'provider stopped the answer: content_filter', { detail: 'content_filter' }));
    }
    if (refusalText && !content && tools.length === 0) {
      return failure(providerError('refusal', 'model refused to answer', { detail: 'provider_refusal' }));
    }
    const toolCalls: ToolCallResult[] = [];
    for (const [i, tc] of tools.entries()) {
      if (!tc) continue;
      const args = tc.arguments.trim() === '' ? '{}' : tc.arguments;
      if (!tc.name) return failure(providerError('invalid_output', `tool call ${i} has no function name`, { detail: 'invalid_tool_arguments' }));
      if (!isJsonObjectText(args)) {
        return failure(providerError('invalid_output', `tool call ${i} (${tc.name}) arguments are not a JSON object`, { detail: 'invalid_tool_arguments' }));
      }
      toolCalls.push({ id: tc.id || `call_${i}`, name: tc.name, arguments: args });
    }
    const rf = opts.request.response_format?.type;
    if ((rf === 'json_object' || rf === 'json_schema') && toolCalls.length === 0 && !isJsonText(content)) {
      return failure(providerError('invalid_output', `JSON requested but the answer is not valid JSON (finish_reason ${finishReason})`, { detail: 'invalid_json' }));
    }

    const usageEstimated = usage === null;
    const finalUsage: Usage = usage ?? {
      inputTokens: estimateTokens(JSON.stringify(body.messages ?? '')),
      outputTokens: estimateTokens(content) + toolCalls.reduce((n, tc) => n + estimateTokens(tc.name + tc.arguments), 0),
    };
    const totalMs = elapsed();
    const genMs = ttftMs !== null ? totalMs - ttftMs : 0;
    return {
      ok: true,
      content,
      toolCalls,
      finishReason: finishReason ?? 'stop',
      usage: finalUsage,
      usageEstimated,
      ttftMs,
      totalMs,
      outputTokensPerSec: genMs > 0 && finalUsage.outputTokens > 1 ? Math.round(((finalUsage.outputTokens - 1) * 1000 * 10) / genMs) / 10 : null,
      rawModel,
      simulated,
      adjustments,
      streamedChars,
    };
  }

  /** Message for logs: provider and path, never the key. */
  describe(): string {
    return scrub(`${this.providerId} ${this.baseUrl}`, this.apiKey());
  }
}

/** Reads to the end of the body if it comes within `ms`; false if it did not (the caller drains it). */
async function awaitEnd(it: AsyncIterator<Buffer>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    for (;;) {
      const next = await Promise.race([it.next(), late]);
      if (next === 'late') return false;
      if (next.done) return true;
    }
  } catch {
    return true; // the connection is gone, nothing left to read
  } finally {
    clearTimeout(timer);
  }
}

/** After an early finish, read the rest (normally just [DONE]) so the keep-alive connection is reused. */
function drainInBackground(it: AsyncIterator<Buffer>, body: Dispatcher.ResponseData['body']): void {
  const guard = setTimeout(() => body.destroy(), 2_000);
  guard.unref();
  void (async () => {
    try {
      for (;;) if ((await it.next()).done) break;
    } catch {
      // the connection is gone; nothing to report, the answer is already complete
    } finally {
      clearTimeout(guard);
    }
  })();
}

async function readText(body: Dispatcher.ResponseData['body'], max: number, onChunk?: () => void): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    onChunk?.();
    if (size < max) {
      chunks.push(c);
      size += c.length;
    }
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/**
 * finish_reason is written to the public chain: keep a short lowercase token as sent ("stop", "length",
 * "tool_calls", ...), and anything else a provider puts there (text, an object, a number) becomes "other".
 */
function finishReasonOf(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  return typeof v === 'string' && /^[a-z][a-z0-9_]{0,31}$/.test(v) ? v : 'other';
}

function toUsage(u: { prompt_tokens?: unknown; completion_tokens?: unknown }): Usage {
  // Token counts go on the chain as integers: an absurd count is clamped to a safe one (the gateway then
  // charges the hold), never left as a float the chain would refuse.
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(Math.round(v), Number.MAX_SAFE_INTEGER) : 0);
  return { inputTokens: n(u.prompt_tokens), outputTokens: n(u.completion_tokens) };
}

/** Rough token count for providers that send no usage (about 4 characters per token). */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

function isJsonText(s: string): boolean {
  if (s.trim() === '') return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function isJsonObjectText(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

interface ToolCallDeltaJson {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}
interface ChunkJson {
  model?: string;
  system_fingerprint?: string;
  error?: unknown;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  choices?: {
    delta?: { content?: string | null; reasoning_content?: string | null; refusal?: string | null; tool_calls?: ToolCallDeltaJson[] };
    finish_reason?: unknown;
  }[];
}
interface CompletionJson {
  model?: string;
  system_fingerprint?: string;
  error?: unknown;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  choices?: {
    message?: { content?: string | null; refusal?: string | null; tool_calls?: ToolCallDeltaJson[] };
    finish_reason?: unknown;
  }[];
}
