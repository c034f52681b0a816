// The OpenAI-compatible endpoint: POST /v1/chat/completions and GET /v1/models, so any OpenAI client
// works unchanged (baseURL = http://host/v1, apiKey = an agent key). `model: "auto"` routes; a catalog
// model id (or "provider/model") pins. Ainfera-specific inputs ride in an optional `ainfera` object;
// outputs ride in `x-ainfera-*` headers and an `ainfera` field the OpenAI clients ignore.
//
// Streaming: the 200 and its headers are held back until the first token (or the end), so a refusal
// before any provider answers still gets its proper status (402, 422, 502). Chain seqs are only all known
// at the end: the stream carries them in the final chunk's `ainfera` field and in an HTTP trailer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken } from '../accounts/keys.js';
import { logger } from '../log.js';
import type { ModelInfo } from '../catalog/types.js';
import type { AgentRecord } from '../store/port.js';
import type { Gateway, RouteCallResult, RouteSuccess } from '../gateway/types.js';
import type { RouteRequest, ScoredCandidate } from '../routing/types.js';

export interface OpenAIRoutesDeps {
  gateway: Pick<Gateway, 'routeCall'>;
  /** accounts.authenticate */
  authenticate(apiKey: string | null | undefined): Promise<AgentRecord | null>;
  catalog: { models(): ModelInfo[]; model(id: string): ModelInfo | undefined; offerings(): readonly { modelId: string }[]; provider?(id: string): unknown };
  /** Request body limit in bytes (config.api.maxBodyBytes). */
  maxBodyBytes?: number;
  /** `created` of every model in /v1/models (epoch seconds); defaults to when the routes were built. */
  createdAt?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const DEFAULT_MAX_BODY = 1_000_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null,
    readonly param: string | null = null,
    readonly extra: Record<string, unknown> | null = null,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, e: HttpError, headers: Record<string, string> = {}): void {
  const error: Record<string, unknown> = { message: e.message, type: e.type, param: e.param, code: e.code };
  if (e.extra) error.ainfera = e.extra;
  sendJson(res, e.status, { error }, headers);
}

/** Reads the body up to `limit` bytes; a larger body is refused with 413 without reading the rest. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpError(413, `request body is larger than ${limit} bytes`, 'invalid_request_error', 'body_too_large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body is larger than ${limit} bytes`, 'invalid_request_error', 'body_too_large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const badParam = (param: string, message: string, code = 'invalid_value'): HttpError =>
  new HttpError(400, message, 'invalid_request_error', code, param);

/**
 * OpenAI parameters we cannot honour are refused unless they hold their neutral value (agent
 * frameworks often send the defaults explicitly); those that do not change the output are ignored.
 */
const NEUTRAL: Record<string, (v: unknown) => boolean> = {
  n: (v) => v === 1,
  top_p: (v) => v === 1,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  stop: (v) => (Array.isArray(v) && v.length === 0),
  logit_bias: (v) => isObj(v) && Object.keys(v).length === 0,
};
const IGNORED = new Set(['user', 'metadata', 'store', 'service_tier', 'parallel_tool_calls', 'seed', 'reasoning_effort', 'verbosity', 'safety_identifier', 'prompt_cache_key']);
const MAPPED = new Set(['model', 'messages', 'tools', 'tool_choice', 'response_format', 'max_tokens', 'max_completion_tokens', 'temperature', 'stream', 'stream_options', 'ainfera']);

export interface ParsedChatRequest {
  request: RouteRequest;
  stream: boolean;
  includeUsage: boolean;
  idempotencyKey?: string;
}

/** Maps an OpenAI chat.completions body to a RouteRequest; field problems become 400s naming the param. */
export function parseChatBody(body: unknown, catalog: OpenAIRoutesDeps['catalog'], idempotencyHeader?: string): ParsedChatRequest {
  if (!isObj(body)) throw badParam('body', 'the request body must be a JSON object', 'invalid_json');
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || v === null || MAPPED.has(k) || IGNORED.has(k)) continue;
    const neutral = NEUTRAL[k];
    if (neutral?.(v)) continue;
    throw badParam(k, neutral ? `${k} is not supported by the router (only its default value is accepted)` : `unknown parameter ${k}`, 'unsupported_parameter');
  }
  if (typeof body.model !== 'string' || body.model === '') throw badParam('model', 'model is required: "auto" or a model id from /v1/models');

  const request: Record<string, unknown> = { messages: body.messages };
  if (body.tools !== undefined && body.tools !== null) request.tools = body.tools;
  if (body.tool_choice !== undefined && body.tool_choice !== null) request.toolChoice = body.tool_choice;
  if (body.response_format !== undefined && body.response_format !== null) request.responseFormat = body.response_format;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) request.maxOutputTokens = maxTokens;
  if (body.temperature !== undefined && body.temperature !== null) request.temperature = body.temperature;
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw badParam('stream', 'stream must be a boolean');
  const stream = body.stream === true;
  request.stream = stream;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!isObj(body.stream_options)) throw badParam('stream_options', 'stream_options must be an object');
    const iu = body.stream_options.include_usage;
    if (iu !== undefined && typeof iu !== 'boolean') throw badParam('stream_options.include_usage', 'include_usage must be a boolean');
    includeUsage = iu === true;
  }

  // model: "auto", a catalog model id, or "provider/model".
  let pin: { model?: string; provider?: string } | undefined;
  if (body.model !== 'auto') {
    const slash = body.model.indexOf('/');
    const provider = slash > 0 ? body.model.slice(0, slash) : undefined;
    const model = slash > 0 ? body.model.slice(slash + 1) : body.model;
    if (!catalog.model(model) || (provider !== undefined && catalog.provider && !catalog.provider(provider))) {
      throw new HttpError(404, `The model ${JSON.stringify(body.model)} does not exist: use "auto" or an id from /v1/models`, 'invalid_request_error', 'model_not_found', 'model');
    }
    pin = provider !== undefined ? { model, provider } : { model };
  }

  let idempotencyKey = idempotencyHeader;
  const a = body.ainfera;
  if (a !== undefined && a !== null) {
    if (!isObj(a)) throw badParam('ainfera', 'ainfera must be an object');
    const allowed = ['costCeilingMicros', 'latencyTargetMs', 'minFinishProbability', 'caps', 'pin', 'taskType', 'idempotencyKey'];
    for (const k of Object.keys(a)) if (!allowed.includes(k)) throw badParam(`ainfera.${k}`, `unknown field ainfera.${k}`, 'unsupported_parameter');
    const caps: Record<string, unknown> = {};
    if (a.caps !== undefined && a.caps !== null) {
      if (!isObj(a.caps)) throw badParam('ainfera.caps', 'ainfera.caps must be an object');
      Object.assign(caps, a.caps);
    }
    for (const k of ['costCeilingMicros', 'latencyTargetMs', 'minFinishProbability'] as const) {
      if (a[k] === undefined || a[k] === null) continue;
      if (caps[k] !== undefined) throw badParam(`ainfera.${k}`, `ainfera.${k} is also set in ainfera.caps`);
      caps[k] = a[k];
    }
    if (Object.keys(caps).length) request.caps = caps;
    if (a.pin !== undefined && a.pin !== null) {
      if (!isObj(a.pin)) throw badParam('ainfera.pin', 'ainfera.pin must be an object');
      if (pin && a.pin.model !== undefined && a.pin.model !== pin.model) throw badParam('ainfera.pin.model', 'ainfera.pin.model contradicts model');
      pin = { ...(a.pin as { model?: string; provider?: string }), ...pin };
    }
    if (a.taskType !== undefined && a.taskType !== null) request.taskType = a.taskType;
    if (a.idempotencyKey !== undefined && a.idempotencyKey !== null) {
      if (idempotencyKey !== undefined && idempotencyKey !== a.idempotencyKey) {
        throw badParam('ainfera.idempotencyKey', 'ainfera.idempotencyKey contradicts the Idempotency-Key header');
      }
      if (typeof a.idempotencyKey !== 'string') throw badParam('ainfera.idempotencyKey', 'ainfera.idempotencyKey must be a string');
      idempotencyKey = a.idempotencyKey;
    }
  }
  if (pin) request.pin = pin;
  return { request: request as unknown as RouteRequest, stream, includeUsage, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
}

/** Gateway field paths (`caps.costCeilingMicros`) in the body's own names (`ainfera.costCeilingMicros`). */
function paramOf(field: string): string {
  if (field.startsWith('caps.')) return `ainfera.${field.slice(5)}`;
  if (field === 'caps' || field === 'pin' || field === 'taskType' || field.startsWith('pin.')) return `ainfera.${field}`;
  if (field === 'idempotencyKey') return 'idempotency-key';
  if (field === 'maxOutputTokens') return 'max_tokens';
  if (field === 'toolChoice' || field.startsWith('toolChoice.')) return field.replace('toolChoice', 'tool_choice');
  if (field === 'responseFormat' || field.startsWith('responseFormat.')) return field.replace('responseFormat', 'response_format');
  return field;
}

function candidateReasons(c: readonly ScoredCandidate[]): unknown[] {
  return c.map((x) => ({ model: x.modelId, provider: x.providerId, eligible: x.eligible, reasons: x.refusals.map((r) => ({ kind: r.kind, message: r.message })) }));
}

/** Failures as OpenAI-shaped errors with the status the brief and OpenAI clients expect. */
function failureToHttp(r: Exclude<RouteCallResult, RouteSuccess>): HttpError {
  switch (r.type) {
    case 'ValidationError':
      return badParam(paramOf(r.field), r.message);
    case 'InsufficientCredit':
      return new HttpError(402, r.message, 'insufficient_credit', 'insufficient_credit', null, {
        decisionId: r.decisionId,
        requiredMicros: r.requiredMicros,
        balanceMicros: r.balanceMicros,
        chainSeqs: r.chainSeqs,
      });
    case 'NoEligibleModel':
      return new HttpError(422, r.message, 'invalid_request_error', 'no_eligible_model', null, {
        decisionId: r.decisionId,
        taskType: r.taskType,
        candidates: candidateReasons(r.candidates),
        chainSeqs: r.chainSeqs,
      });
    case 'AllAttemptsFailed':
      return new HttpError(r.aborted ? 499 : 502, r.message, 'api_error', r.aborted ? 'client_closed_request' : 'all_attempts_failed', null, {
        decisionId: r.decisionId,
        attempts: r.attempts.map((a) => ({ model: a.model, provider: a.provider, errorClass: a.errorClass, status: a.status, message: a.message })),
        chainSeqs: r.chainSeqs,
      });
  }
}

function resultHeaders(r: RouteCallResult): Record<string, string> {
  if (r.type === 'ValidationError') return {};
  const h: Record<string, string> = { 'x-ainfera-decision-id': r.decisionId, 'x-ainfera-chain-seqs': r.chainSeqs.join(',') };
  if (r.replayed) h['x-ainfera-replayed'] = 'true';
  if (r.type === 'RouteSuccess') {
    h['x-ainfera-provider'] = r.provider;
    h['x-ainfera-cost-micros'] = String(r.costMicros);
    if (r.simulated) h['x-ainfera-simulated'] = 'true';
  }
  return h;
}

function usageJson(r: RouteSuccess): Record<string, number> {
  return { prompt_tokens: r.usage.inputTokens, completion_tokens: r.usage.outputTokens, total_tokens: r.usage.inputTokens + r.usage.outputTokens };
}

function ainferaField(r: RouteSuccess): Record<string, unknown> {
  return {
    decisionId: r.decisionId,
    provider: r.provider,
    taskType: r.decision.taskType,
    costMicros: r.costMicros,
    holdMicros: r.holdMicros,
    latencyMs: r.latencyMs,
    attempts: r.decision.attempts.length,
    chainSeqs: r.chainSeqs,
    simulated: r.simulated,
    replayed: r.replayed,
  };
}

function toolCallsJson(r: RouteSuccess) {
  return r.toolCalls.map((t) => ({ id: t.id, type: 'function' as const, function: { name: t.name, arguments: t.arguments } }));
}

function completionJson(r: RouteSuccess, created: number): unknown {
  const toolCalls = toolCallsJson(r);
  return {
    id: `chatcmpl-${r.decisionId}`,
    object: 'chat.completion',
    created,
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: r.content === '' && toolCalls.length ? null : r.content,
          refusal: null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: r.finishReason,
        logprobs: null,
      },
    ],
    usage: usageJson(r),
    system_fingerprint: r.simulated ? 'ainfera-simulated' : null,
    ainfera: ainferaField(r),
  };
}

function modelJson(m: ModelInfo, created: number): Record<string, unknown> {
  return {
    id: m.id,
    object: 'model',
    created,
    owned_by: m.vendor,
    name: m.name,
    intelligence_index: m.intelligenceIndex,
    output_tokens_per_second: m.outputTokensPerSecond,
    context_window: m.contextWindow,
    max_output_tokens: m.maxOutputTokens,
    capabilities: m.capabilities,
  };
}

/** The model id in a /v1/models/ID path; a malformed %-escape names no model (404, not a URIError 500). */
function modelIdOf(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function createOpenAIRoutes(deps: OpenAIRoutesDeps): Handler {
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const created = deps.createdAt ?? Math.floor(Date.now() / 1000);

  async function chatCompletions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const agent = await deps.authenticate(bearerToken(req.headers.authorization));
    if (!agent) {
      // Drain nothing: refuse at once (the body may be large and is not ours to read).
      throw new HttpError(401, 'Incorrect or missing API key: send Authorization: Bearer <agent key>', 'invalid_request_error', 'invalid_api_key');
    }
    const raw = await readBody(req, maxBody);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw badParam('body', 'the request body is not valid JSON', 'invalid_json');
    }
    const idemHeader = req.headers['idempotency-key'];
    const parsed = parseChatBody(body, deps.catalog, Array.isArray(idemHeader) ? idemHeader[0] : idemHeader);

    // The client going away aborts the provider call.
    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    try {
      if (!parsed.stream) {
        const r = await deps.gateway.routeCall(agent, parsed.request, {
          signal: abort.signal,
          ...(parsed.idempotencyKey !== undefined ? { idempotencyKey: parsed.idempotencyKey } : {}),
        });
        if (abort.signal.aborted) return;
        if (r.type !== 'RouteSuccess') return sendError(res, failureToHttp(r), resultHeaders(r));
        return sendJson(res, 200, completionJson(r, Math.floor(Date.now() / 1000)), resultHeaders(r));
      }
      await streamCompletion(res, agent, parsed, abort);
    } finally {
      res.off('close', onClose);
    }
  }

  async function streamCompletion(res: ServerResponse, agent: AgentRecord, parsed: ParsedChatRequest, abort: AbortController): Promise<void> {
    const createdAt = Math.floor(Date.now() / 1000);
    let decisionId = '';
    let started = false;
    let streamModel = '';
    const chunk = (model: string, delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id: `chatcmpl-${decisionId}`, object: 'chat.completion.chunk', created: createdAt, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...extra })}\n\n`;
    const start = (model: string): void => {
      if (started) return;
      started = true;
      streamModel = model;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-ainfera-decision-id': decisionId,
        trailer: 'x-ainfera-chain-seqs',
      });
      res.write(chunk(model, { role: 'assistant', content: '' }, null));
    };

    const r = await deps.gateway.routeCall(agent, parsed.request, {
      signal: abort.signal,
      ...(parsed.idempotencyKey !== undefined ? { idempotencyKey: parsed.idempotencyKey } : {}),
      onStart: (info) => {
        decisionId = info.decisionId;
      },
      onDelta: (text, from) => {
        if (abort.signal.aborted || text === '') return;
        start(from.model);
        res.write(chunk(from.model, { content: text }, null));
      },
    });
    if (abort.signal.aborted) return;
    if (r.type !== 'RouteSuccess') {
      const err = failureToHttp(r);
      if (!started) return sendError(res, err, resultHeaders(r));
      // Output already went out: end the stream with an error event (OpenAI clients raise it), no [DONE].
      res.write(`data: ${JSON.stringify({ error: { message: err.message, type: err.type, param: null, code: err.code, ainfera: err.extra } })}\n\n`);
      res.addTrailers({ 'x-ainfera-chain-seqs': 'chainSeqs' in r ? r.chainSeqs.join(',') : '' });
      res.end();
      return;
    }
    if (!decisionId) decisionId = r.decisionId;
    if (!started) {
      start(r.model);
      // Nothing was streamed (tool calls only, or a replay): send the whole content now.
      if (r.content) res.write(chunk(r.model, { content: r.content }, null));
    } else if (streamModel !== r.model) {
      // The model that answered is the one named in the final chunks.
      logger.debug({ decision: r.decisionId }, 'stream started on one model and finished on another');
    }
    const tc = toolCallsJson(r);
    if (tc.length) res.write(chunk(r.model, { tool_calls: tc.map((t, index) => ({ index, ...t })) }, null));
    res.write(chunk(r.model, {}, r.finishReason, { ainfera: ainferaField(r) }));
    if (parsed.includeUsage) {
      res.write(`data: ${JSON.stringify({ id: `chatcmpl-${decisionId}`, object: 'chat.completion.chunk', created: createdAt, model: r.model, choices: [], usage: usageJson(r) })}\n\n`);
    }
    res.write('data: [DONE]\n\n');
    res.addTrailers({ 'x-ainfera-chain-seqs': r.chainSeqs.join(',') });
    res.end();
  }

  // Only what this deployment can serve: a catalog model no configured provider offers is not listed
  // (pinning it could only end in NoEligibleModel).
  const served = new Set(deps.catalog.offerings().map((o) => o.modelId));
  function models(res: ServerResponse, id?: string): void {
    if (id === undefined) {
      const data = [
        { id: 'auto', object: 'model', created, owned_by: 'ainfera', name: 'Ainfera router: the model most likely to finish inside your caps' },
        ...deps.catalog
          .models()
          .filter((m) => served.has(m.id))
          .map((m) => modelJson(m, created)),
      ];
      return sendJson(res, 200, { object: 'list', data });
    }
    if (id === 'auto') return sendJson(res, 200, { id: 'auto', object: 'model', created, owned_by: 'ainfera' });
    const m = deps.catalog.model(id);
    if (!m || !served.has(m.id)) {
      const why = m ? 'is not served by any configured provider' : 'does not exist';
      return sendError(res, new HttpError(404, `The model ${JSON.stringify(id)} ${why}`, 'invalid_request_error', 'model_not_found', 'model'));
    }
    sendJson(res, 200, modelJson(m, created));
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const isChat = path === '/v1/chat/completions';
    const isModels = path === '/v1/models' || path.startsWith('/v1/models/');
    if (!isChat && !isModels) return false;
    try {
      if (isChat) {
        if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'invalid_request_error', 'method_not_allowed');
        await chatCompletions(req, res);
      } else {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET', 'invalid_request_error', 'method_not_allowed');
        models(res, path === '/v1/models' ? undefined : modelIdOf(path.slice('/v1/models/'.length)));
      }
    } catch (err) {
      if (res.headersSent) {
        logger.error({ err }, 'openai endpoint failed mid-response');
        res.destroy();
        return true;
      }
      if (err instanceof HttpError) {
        // After a refusal of an unread body, close the connection rather than read what we refused.
        if (err.status === 413 || err.status === 401) res.setHeader('connection', 'close');
        sendError(res, err, err.status === 405 ? { allow: isChat ? 'POST' : 'GET' } : {});
      } else {
        logger.error({ err }, 'openai endpoint failed');
        sendError(res, new HttpError(500, 'internal error', 'api_error', 'internal_error'));
      }
    }
    return true;
  };
}
