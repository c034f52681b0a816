// The simulated provider fleet: ONE loopback HTTP server speaking OpenAI-compatible chat completions for
// every provider of the catalog, each under its own path prefix (/groq/v1/chat/completions, ...), so the
// default run exercises the real adapter with no API keys. It generates at each model's reference speed
// with latency noise, counts usage, answers tools and JSON requests, lists prices in OpenRouter's /models
// format (with an occasional price change), throws occasional 429s/5xx and a scripted outage now and then.
// Everything it returns is labelled simulated. Tests use its fault-injection API (inject) to script failures.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { quirksFromRecord, resolveQuirks } from './quirks.js';
import { countInputTokens, createRng, logNormal, microsPerMTokToUsdPerToken, sampleFromSchema, sampleTokens } from './sim-text.js';

export const SIMULATED_FINGERPRINT = 'ainfera-simulated';
export const SIMULATED_HEADER = 'x-ainfera-simulated';

/** One (provider, model) the fleet serves. */
export interface SimModelSpec {
  providerId: string;
  /** The id requests name in `model` (the provider's upstream id). */
  upstreamModel: string;
  /** Display name for /models. */
  name?: string;
  /** Reference output speed, tokens/s. */
  outputTokensPerSecond: number;
  contextWindow: number;
  /** Integer micro-USD per million tokens. */
  inputPerMTokMicros: number;
  outputPerMTokMicros: number;
  /** Median time to first token, ms (default 250 + a per-model offset). */
  ttftMs?: number;
  /** Answers a trailing assistant message with a 400, like several real hosts. */
  rejectsAssistantPrefill?: boolean;
}

/** A scripted failure. Durations (delayMs, forMs) are real milliseconds, not scaled by timeScale. */
export type SimFault =
  /** 429; retryAfterSeconds → Retry-After: N; retryAfterDateMs → Retry-After as an HTTP-date that far ahead; resetHeader → x-ratelimit-reset-requests. */
  | { kind: 'rate_limit'; retryAfterSeconds?: number; retryAfterDateMs?: number; resetHeader?: string }
  /** Any HTTP error status (500, 502, 503, 529, ...). */
  | { kind: 'status'; status: number; code?: string; message?: string; retryAfterSeconds?: number }
  /** TCP RST before any response byte. */
  | { kind: 'reset_before_headers' }
  /** Accept the request and never answer. */
  | { kind: 'never_answer' }
  /** Headers at once, then the first token only after delayMs. */
  | { kind: 'slow_first_token'; delayMs: number }
  /** Stop mid-answer (no finish_reason): 'destroy' kills the socket, 'end' ends the HTTP response cleanly. */
  | { kind: 'cut_mid_stream'; afterTokens?: number; how?: 'destroy' | 'end' }
  /** Stop sending mid-answer and hold the connection open. */
  | { kind: 'stall_mid_stream'; afterTokens?: number }
  /** A `data:` event that is not JSON, mid-answer. */
  | { kind: 'malformed_event'; afterTokens?: number }
  /** finish_reason and usage, then no [DONE]; hold: keep the connection open afterwards instead of ending it. */
  | { kind: 'no_done'; hold?: boolean }
  /** 400 context_length_exceeded regardless of the prompt size. */
  | { kind: 'context_length' }
  /** 'finish_reason': stream a little, then finish_reason content_filter; 'error': 400 content_filter. */
  | { kind: 'content_filter'; mode?: 'finish_reason' | 'error' }
  /** 400 when the conversation ends with an assistant message (requests without a prefill pass). */
  | { kind: 'reject_prefill' }
  /** 503 for forMs from injection (on the fleet's clock), then healthy again. */
  | { kind: 'down'; forMs: number }
  /** Invalid JSON content in JSON mode, malformed tool-call arguments when tools are offered. */
  | { kind: 'invalid_output' }
  /** Omit the usage chunk (as hosts without stream usage do). */
  | { kind: 'no_usage' };

export interface FaultRule {
  providerId: string;
  /** Upstream model id; omitted = every model of the provider. */
  model?: string;
  fault: SimFault;
  /** Requests it applies to (default: unlimited). */
  times?: number;
}

export interface FaultHandle {
  readonly id: number;
  /** Requests this rule has answered. */
  readonly hits: number;
  remove(): void;
}

/** Background misbehaviour of the default run. Periods are simulated time (divided by timeScale). */
export interface SimChaos {
  /** Probability a request gets a 429 (with Retry-After: 1). */
  rate429: number;
  /** Probability a request gets a 500/502/503. */
  rate5xx: number;
  /** A scripted outage of one random (provider, model) every this many ms (0 = never). */
  outageEveryMs: number;
  outageForMs: number;
  /** One random model's price moves by ±30% every this many ms (0 = never). */
  priceChangeEveryMs: number;
}

export const DEFAULT_CHAOS: SimChaos = {
  rate429: 0.01,
  rate5xx: 0.005,
  outageEveryMs: 10 * 60_000,
  outageForMs: 60_000,
  priceChangeEveryMs: 5 * 60_000,
};

export interface SimFleetOptions {
  models: SimModelSpec[];
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  seed?: number;
  /** Speed-up of every simulated delay (TTFT, generation, chaos periods): 50 = fifty times faster. */
  timeScale?: number;
  /** false: no random failures, outages or price changes (tests); default DEFAULT_CHAOS. */
  chaos?: false | Partial<SimChaos>;
  /** Clock for `down` faults and outages (epoch ms). */
  now?: () => number;
}

/** What the fleet saw, for assertions and the trace page (never prompt text). */
export interface SimRequestRecord {
  at: number;
  providerId: string;
  model: string;
  stream: boolean;
  /** The conversation ended with an assistant message. */
  prefill: boolean;
  /** The fault kind that answered it (including 'chaos_429', 'chaos_5xx', 'outage'), or null. */
  fault: string | null;
  status: number;
}

interface ActiveRule extends FaultRule {
  id: number;
  hits: number;
  /** For 'down': when it stops applying. */
  until?: number;
}

const MAX_REQUEST_BODY = 8 * 1024 * 1024;
const MAX_LOG = 10_000;

export class SimFleet {
  readonly url: string;
  readonly requests: SimRequestRecord[] = [];
  private readonly specs = new Map<string, SimModelSpec>();
  private readonly providerIds = new Set<string>();
  private readonly rules: ActiveRule[] = [];
  private nextRuleId = 1;
  private readonly outages = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rng: () => number;
  private readonly scale: number;
  private readonly chaos: SimChaos | null;
  private readonly now: () => number;
  private seq = 0;
  private closed = false;

  private constructor(
    private readonly server: http.Server,
    url: string,
    opts: SimFleetOptions,
  ) {
    this.url = url;
    this.rng = createRng(opts.seed ?? 0x5eed);
    this.scale = opts.timeScale ?? 1;
    this.now = opts.now ?? Date.now;
    this.chaos = opts.chaos === false ? null : { ...DEFAULT_CHAOS, ...opts.chaos };
    for (const m of opts.models) this.addModel(m);
  }

  /** Starts the server on loopback. */
  static async start(opts: SimFleetOptions): Promise<SimFleet> {
    if (!Array.isArray(opts.models)) throw new TypeError('SimFleetOptions.models must be an array');
    if (opts.timeScale !== undefined && !(opts.timeScale > 0)) throw new RangeError('SimFleetOptions.timeScale must be > 0');
    let fleet: SimFleet | null = null;
    const server = http.createServer((req, res) => {
      if (fleet) fleet.handle(req, res);
      else res.destroy();
    });
    server.keepAliveTimeout = 60_000;
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    fleet = new SimFleet(server, `http://${h}:${addr.port}`, opts);
    const f = fleet;
    server.on('connection', (s) => {
      f.sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => f.sockets.delete(s));
    });
    f.startChaos();
    return f;
  }

  /** Base URL an adapter uses for this provider (append /chat/completions, /models). */
  baseUrl(providerId: string): string {
    return `${this.url}/${encodeURIComponent(providerId)}/v1`;
  }

  providers(): string[] {
    return [...this.providerIds];
  }

  models(providerId?: string): SimModelSpec[] {
    return [...this.specs.values()].filter((s) => providerId === undefined || s.providerId === providerId).map((s) => ({ ...s }));
  }

  addModel(spec: SimModelSpec): void {
    if (!spec.providerId || !/^[a-z0-9][a-z0-9._-]*$/i.test(spec.providerId)) throw new TypeError(`SimModelSpec.providerId is not a slug: ${spec.providerId}`);
    if (!spec.upstreamModel) throw new TypeError('SimModelSpec.upstreamModel is required');
    if (!(spec.outputTokensPerSecond > 0)) throw new RangeError(`SimModelSpec.outputTokensPerSecond must be > 0 (${spec.upstreamModel})`);
    if (!Number.isSafeInteger(spec.inputPerMTokMicros) || !Number.isSafeInteger(spec.outputPerMTokMicros)) {
      throw new TypeError(`SimModelSpec prices must be integer micro-USD (${spec.upstreamModel})`);
    }
    this.specs.set(key(spec.providerId, spec.upstreamModel), { ...spec });
    this.providerIds.add(spec.providerId);
  }

  /** Scripts a failure; the newest matching rule wins. */
  inject(rule: FaultRule): FaultHandle {
    if (!this.providerIds.has(rule.providerId)) throw new TypeError(`FaultRule.providerId unknown: ${rule.providerId}`);
    if (rule.model !== undefined && !this.specs.has(key(rule.providerId, rule.model))) {
      throw new TypeError(`FaultRule.model unknown for ${rule.providerId}: ${rule.model}`);
    }
    const active: ActiveRule = { ...rule, id: this.nextRuleId++, hits: 0 };
    if (rule.fault.kind === 'down') active.until = this.now() + rule.fault.forMs;
    this.rules.unshift(active);
    const rules = this.rules;
    return {
      id: active.id,
      get hits() {
        return active.hits;
      },
      remove() {
        const i = rules.indexOf(active);
        if (i >= 0) rules.splice(i, 1);
      },
    };
  }

  clearFaults(): void {
    this.rules.length = 0;
    this.outages.clear();
  }

  /** Takes one (provider, model) down for forMs (fleet clock), as the scripted outage does. */
  outage(providerId: string, model: string, forMs: number): void {
    this.outages.set(key(providerId, model), this.now() + forMs);
  }

  setPrice(providerId: string, model: string, price: { inputPerMTokMicros: number; outputPerMTokMicros: number }): void {
    const spec = this.specs.get(key(providerId, model));
    if (!spec) throw new TypeError(`unknown model ${providerId}/${model}`);
    if (!Number.isSafeInteger(price.inputPerMTokMicros) || !Number.isSafeInteger(price.outputPerMTokMicros)) {
      throw new TypeError('prices must be integer micro-USD');
    }
    spec.inputPerMTokMicros = price.inputPerMTokMicros;
    spec.outputPerMTokMicros = price.outputPerMTokMicros;
  }

  /** Number of requests seen, optionally for one provider/model. */
  count(filter: { providerId?: string; model?: string } = {}): number {
    return this.requests.filter((r) => (filter.providerId === undefined || r.providerId === filter.providerId) && (filter.model === undefined || r.model === filter.model)).length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections?.();
    await done;
  }

  // ---------------------------------------------------------------------------------------------

  private startChaos(): void {
    const c = this.chaos;
    if (!c) return;
    const specs = (): SimModelSpec[] => [...this.specs.values()];
    if (c.outageEveryMs > 0) {
      this.every(c.outageEveryMs / this.scale, () => {
        const all = specs();
        const s = all[Math.floor(this.rng() * all.length)];
        if (s) this.outage(s.providerId, s.upstreamModel, c.outageForMs / this.scale);
      });
    }
    if (c.priceChangeEveryMs > 0) {
      this.every(c.priceChangeEveryMs / this.scale, () => {
        const all = specs();
        const s = all[Math.floor(this.rng() * all.length)];
        if (!s) return;
        const f = 0.7 + this.rng() * 0.6;
        s.inputPerMTokMicros = Math.max(1, Math.round(s.inputPerMTokMicros * f));
        s.outputPerMTokMicros = Math.max(1, Math.round(s.outputPerMTokMicros * f));
      });
    }
  }

  private every(ms: number, fn: () => void): void {
    const tick = (): void => {
      if (this.closed) return;
      fn();
      const t = setTimeout(tick, ms);
      t.unref();
      this.timers.add(t);
    };
    const t = setTimeout(tick, ms);
    t.unref();
    this.timers.add(t);
  }

  private sleep(ms: number, res: http.ServerResponse): Promise<boolean> {
    // Resolves false when the client went away (or the fleet closed) so generation stops.
    return new Promise((resolve) => {
      if (res.destroyed || this.closed) return resolve(false);
      // Sub-millisecond waits (high time scales): a timer would round them up to 1 ms.
      if (ms < 1) return setImmediate(() => resolve(!res.destroyed && !this.closed));
      const onClose = (): void => {
        clearTimeout(t);
        this.timers.delete(t);
        resolve(false);
      };
      const t = setTimeout(() => {
        this.timers.delete(t);
        res.off('close', onClose);
        resolve(!res.destroyed && !this.closed);
      }, Math.max(0, ms));
      this.timers.add(t);
      res.once('close', onClose);
    });
  }

  private log(rec: Omit<SimRequestRecord, 'at'>): void {
    this.requests.push({ at: this.now(), ...rec });
    if (this.requests.length > MAX_LOG) this.requests.splice(0, this.requests.length - MAX_LOG);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader(SIMULATED_HEADER, '1');
    const url = new URL(req.url ?? '/', 'http://sim');
    const m = /^\/([^/]+)\/v1\/(chat\/completions|models)\/?$/.exec(url.pathname);
    const providerId = m ? decodeURIComponent(m[1]!) : '';
    if (!m || !this.providerIds.has(providerId)) return sendError(res, 404, 'not_found', `no simulated provider at ${url.pathname}`);
    if (m[2] === 'models') {
      if (req.method !== 'GET') return sendError(res, 405, 'method_not_allowed', 'use GET');
      return this.serveModels(providerId, res);
    }
    if (req.method !== 'POST') return sendError(res, 405, 'method_not_allowed', 'use POST');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BODY) {
        sendError(res, 413, 'request_too_large', 'request body too large');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent || res.destroyed) return;
      let body: ChatBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
      } catch {
        return sendError(res, 400, 'invalid_json', 'request body is not JSON');
      }
      if (!body || typeof body !== 'object' || !Array.isArray(body.messages) || typeof body.model !== 'string') {
        return sendError(res, 400, 'invalid_request_error', 'model and messages are required');
      }
      void this.serveCompletion(providerId, body, req, res).catch(() => res.destroy());
    });
  }

  private serveModels(providerId: string, res: http.ServerResponse): void {
    const data = this.models(providerId).map((s) => ({
      id: s.upstreamModel,
      name: `${s.name ?? s.upstreamModel} (simulated)`,
      description: 'Simulated by Ainfera: not a real provider.',
      context_length: s.contextWindow,
      pricing: {
        prompt: microsPerMTokToUsdPerToken(s.inputPerMTokMicros),
        completion: microsPerMTokToUsdPerToken(s.outputPerMTokMicros),
      },
      ainfera_simulated: true,
    }));
    sendJson(res, 200, { object: 'list', data });
  }

  private matchRule(providerId: string, model: string, prefill: boolean): ActiveRule | null {
    const now = this.now();
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!;
      if (r.providerId !== providerId || (r.model !== undefined && r.model !== model)) continue;
      if (r.until !== undefined && now >= r.until) {
        this.rules.splice(i--, 1);
        continue;
      }
      if (r.fault.kind === 'reject_prefill' && !prefill) continue;
      r.hits++;
      if (r.times !== undefined && r.hits >= r.times) this.rules.splice(i, 1);
      return r;
    }
    return null;
  }

  private async serveCompletion(providerId: string, body: ChatBody, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const spec = this.specs.get(key(providerId, body.model));
    const stream = body.stream === true;
    const messages = body.messages;
    const last = messages[messages.length - 1] as { role?: string; tool_calls?: unknown[] } | undefined;
    const prefill = last?.role === 'assistant' && !(Array.isArray(last.tool_calls) && last.tool_calls.length);
    const record = (status: number, fault: string | null): void =>
      this.log({ providerId, model: body.model, stream, prefill, fault, status });
    if (!spec) {
      record(404, null);
      return sendError(res, 404, 'model_not_found', `The model ${body.model} does not exist on this provider`);
    }
    const rule = this.matchRule(providerId, body.model, prefill);
    const fault = rule?.fault ?? null;

    // Faults that answer before generation.
    if (fault) {
      switch (fault.kind) {
        case 'rate_limit': {
          const headers: Record<string, string> = {};
          if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
          if (fault.retryAfterDateMs !== undefined) headers['retry-after'] = new Date(Date.now() + fault.retryAfterDateMs).toUTCString();
          if (fault.resetHeader !== undefined) {
            headers['x-ratelimit-reset-requests'] = fault.resetHeader;
            headers['x-ratelimit-remaining-requests'] = '0';
          }
          record(429, fault.kind);
          return sendError(res, 429, 'rate_limit_exceeded', 'Rate limit reached for requests (simulated)', headers);
        }
        case 'status': {
          const headers: Record<string, string> = {};
          if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
          record(fault.status, fault.kind);
          return sendError(res, fault.status, fault.code ?? 'server_error', fault.message ?? `simulated ${fault.status}`, headers);
        }
        case 'down':
          record(503, fault.kind);
          return sendError(res, 503, 'service_unavailable', 'The server is temporarily unavailable (simulated outage)');
        case 'reset_before_headers':
          record(0, fault.kind);
          req.socket.resetAndDestroy();
          return;
        case 'never_answer':
          record(0, fault.kind);
          return; // hold the socket until the client gives up or the fleet closes
        case 'context_length':
          record(400, fault.kind);
          return sendError(res, 400, 'context_length_exceeded', `This model's maximum context length is ${spec.contextWindow} tokens (simulated)`);
        case 'content_filter':
          if (fault.mode === 'error') {
            record(400, fault.kind);
            return sendError(res, 400, 'content_filter', 'The response was filtered due to the content management policy (simulated)');
          }
          break;
        case 'reject_prefill':
          record(400, fault.kind);
          return sendError(res, 400, 'invalid_request_error', 'Assistant prefill is not supported: the last message must be a user or tool message (simulated)');
        default:
          break;
      }
    }
    const outageUntil = this.outages.get(key(providerId, body.model));
    if (outageUntil !== undefined) {
      if (this.now() < outageUntil) {
        record(503, 'outage');
        return sendError(res, 503, 'service_unavailable', 'The server is temporarily unavailable (simulated outage)');
      }
      this.outages.delete(key(providerId, body.model));
    }
    if (!fault && this.chaos) {
      const r = this.rng();
      if (r < this.chaos.rate429) {
        record(429, 'chaos_429');
        return sendError(res, 429, 'rate_limit_exceeded', 'Rate limit reached for requests (simulated)', { 'retry-after': '1' });
      }
      if (r < this.chaos.rate429 + this.chaos.rate5xx) {
        const status = [500, 502, 503][Math.floor(this.rng() * 3)] ?? 500;
        record(status, 'chaos_5xx');
        return sendError(res, status, 'server_error', `simulated ${status}`);
      }
    }

    // Request validation the way real hosts do it.
    if (spec.rejectsAssistantPrefill && prefill) {
      record(400, null);
      return sendError(res, 400, 'invalid_request_error', 'Assistant prefill is not supported: the last message must be a user or tool message (simulated)');
    }
    const inputTokens = countInputTokens(body);
    const maxTokens = typeof body.max_completion_tokens === 'number' ? body.max_completion_tokens : typeof body.max_tokens === 'number' ? body.max_tokens : undefined;
    if (inputTokens + (maxTokens ?? 0) > spec.contextWindow) {
      record(400, null);
      return sendError(
        res,
        400,
        'context_length_exceeded',
        `This model's maximum context length is ${spec.contextWindow} tokens. However, you requested ${inputTokens + (maxTokens ?? 0)} tokens (simulated)`,
      );
    }

    const plan = this.planAnswer(body, spec, maxTokens, fault);
    record(200, fault?.kind ?? null);
    const id = `chatcmpl-sim-${(++this.seq).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const ttft = (logNormal(this.rng, spec.ttftMs ?? 250 + (spec.outputTokensPerSecond < 80 ? 150 : 0), 0.35) / this.scale) + (fault?.kind === 'slow_first_token' ? fault.delayMs : 0);
    const tps = Math.max(1, logNormal(this.rng, spec.outputTokensPerSecond, 0.15)) * this.scale;
    const usage = { prompt_tokens: inputTokens, completion_tokens: plan.outputTokens, total_tokens: inputTokens + plan.outputTokens };
    const sendUsage = fault?.kind !== 'no_usage';

    if (!stream) {
      if (!(await this.sleep(ttft + (plan.outputTokens / tps) * 1000, res))) return;
      const message: Record<string, unknown> = { role: 'assistant', content: plan.toolCalls.length ? null : plan.pieces.join('') };
      if (plan.toolCalls.length) message.tool_calls = plan.toolCalls.map((t, i) => ({ id: `call_sim_${this.seq}_${i}`, type: 'function', function: { name: t.name, arguments: t.arguments } }));
      const out: Record<string, unknown> = {
        id,
        object: 'chat.completion',
        created,
        model: spec.upstreamModel,
        system_fingerprint: SIMULATED_FINGERPRINT,
        choices: [{ index: 0, message, finish_reason: plan.finishReason, logprobs: null }],
      };
      if (sendUsage) out.usage = usage;
      return sendJson(res, 200, out);
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const frame = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: spec.upstreamModel, system_fingerprint: SIMULATED_FINGERPRINT, choices, ...extra })}\n\n`;
    res.write(frame([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    if (!(await this.sleep(ttft, res))) return;

    // Output pieces: text tokens, or tool-call argument fragments.
    const pieces: { delta: Record<string, unknown>; tokens: number }[] = [];
    if (plan.toolCalls.length) {
      plan.toolCalls.forEach((t, i) => {
        pieces.push({ delta: { tool_calls: [{ index: i, id: `call_sim_${this.seq}_${i}`, type: 'function', function: { name: t.name, arguments: '' } }] }, tokens: 1 });
        for (let p = 0; p < t.arguments.length; p += 12) {
          pieces.push({ delta: { tool_calls: [{ index: i, function: { arguments: t.arguments.slice(p, p + 12) } }] }, tokens: 3 });
        }
      });
    } else {
      for (const p of plan.pieces) pieces.push({ delta: { content: p }, tokens: Math.max(1, Math.round(p.length / 4)) });
    }
    const cutAt =
      fault && (fault.kind === 'cut_mid_stream' || fault.kind === 'stall_mid_stream' || fault.kind === 'malformed_event')
        ? Math.min(Math.max(1, fault.afterTokens ?? Math.floor(pieces.length / 2)), Math.max(1, pieces.length - 1))
        : fault?.kind === 'content_filter'
          ? Math.min(3, pieces.length)
          : -1;
    // Batch pieces so one event goes out every ~10 ms at most (fewer timers at high speed).
    const perEvent = Math.max(1, Math.ceil((tps * 10) / 1000));
    let i = 0;
    while (i < pieces.length) {
      if (i === cutAt) break;
      const end = cutAt > i ? Math.min(i + perEvent, cutAt, pieces.length) : Math.min(i + perEvent, pieces.length);
      let buf = '';
      let tokens = 0;
      for (; i < end; i++) {
        buf += frame([{ index: 0, delta: pieces[i]!.delta, finish_reason: null }]);
        tokens += pieces[i]!.tokens;
      }
      res.write(buf);
      if (i < pieces.length && !(await this.sleep((tokens / tps) * 1000, res))) return;
    }
    if (i === cutAt && fault) {
      switch (fault.kind) {
        case 'cut_mid_stream':
          if (fault.how === 'end') res.end();
          else res.destroy();
          return;
        case 'stall_mid_stream':
          return; // hold the connection open, silent
        case 'malformed_event':
          res.write('data: {"choices":[{"index":0,"delta":{"content":"trunc\n\n');
          await this.sleep(5, res);
          res.end();
          return;
        case 'content_filter':
          res.write(frame([{ index: 0, delta: {}, finish_reason: 'content_filter' }]));
          if (sendUsage) res.write(frame([], { usage }));
          res.end('data: [DONE]\n\n');
          return;
        default:
          break;
      }
    }
    res.write(frame([{ index: 0, delta: {}, finish_reason: plan.finishReason }]));
    if (sendUsage && body.stream_options?.include_usage) res.write(frame([], { usage }));
    if (fault?.kind === 'no_done') {
      if (fault.hold) return; // finish_reason and usage sent; never [DONE], never the end
      res.end();
      return;
    }
    res.end('data: [DONE]\n\n');
  }

  private planAnswer(
    body: ChatBody,
    spec: SimModelSpec,
    maxTokens: number | undefined,
    fault: SimFault | null,
  ): { pieces: string[]; toolCalls: { name: string; arguments: string }[]; finishReason: string; outputTokens: number } {
    const bad = fault?.kind === 'invalid_output';
    const tools = Array.isArray(body.tools) ? body.tools : [];
    const last = body.messages[body.messages.length - 1] as { role?: string } | undefined;
    const choice = body.tool_choice;
    const forced = choice === 'required' || (typeof choice === 'object' && choice !== null);
    const wantTool = tools.length > 0 && choice !== 'none' && (forced || last?.role !== 'tool');
    if (wantTool) {
      const named = typeof choice === 'object' && choice ? (choice as { function?: { name?: string } }).function?.name : undefined;
      const tool = tools.find((t) => t?.function?.name === named) ?? tools[Math.floor(this.rng() * tools.length)] ?? tools[0];
      const name = tool?.function?.name ?? 'tool';
      const args = bad ? '{"unterminated": ' : JSON.stringify(sampleFromSchema(tool?.function?.parameters ?? { type: 'object' }, this.rng));
      return { pieces: [], toolCalls: [{ name, arguments: args }], finishReason: 'tool_calls', outputTokens: Math.ceil((name.length + args.length) / 4) + 3 };
    }
    const rf = body.response_format?.type;
    if (rf === 'json_object' || rf === 'json_schema') {
      const schema = rf === 'json_schema' ? body.response_format?.json_schema?.schema : undefined;
      const value = schema ? sampleFromSchema(schema, this.rng) : { answer: sampleTokens(this.rng, 8).join(''), confidence: 0.9 };
      let text = JSON.stringify(value);
      if (bad) text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
      const pieces: string[] = [];
      for (let p = 0; p < text.length; p += 8) pieces.push(text.slice(p, p + 8));
      return { pieces, toolCalls: [], finishReason: 'stop', outputTokens: Math.ceil(text.length / 4) };
    }
    let n = Math.round(logNormal(this.rng, 90, 0.6));
    n = Math.min(Math.max(n, 8), 600);
    let finishReason = 'stop';
    if (maxTokens !== undefined && maxTokens < n) {
      n = Math.max(1, maxTokens);
      finishReason = 'length';
    }
    void spec;
    return { pieces: sampleTokens(this.rng, n), toolCalls: [], finishReason, outputTokens: n };
  }
}

export function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  return SimFleet.start(opts);
}

/** The slice of a catalog offering (src/catalog CatalogOffering) the fleet needs. */
export interface SimOfferingSource {
  providerId: string;
  upstreamModel: string;
  price: { inputPerMTokMicros: number; outputPerMTokMicros: number };
  model: { name: string; contextWindow: number };
  referenceOutputTokensPerSecond: number;
  defaultTtftMs?: number;
  provider?: { quirks?: Readonly<Record<string, string | number | boolean>> };
}

/**
 * The fleet's model list from the catalog (`catalog.offerings()`): every (provider, model) with its
 * reference speed, context window and current price; a provider whose quirks say `assistantPrefill: false`
 * rejects prefills like the real host. TTFT is scaled down from the provider's prior (real hosts are
 * slower to first token than a loopback server needs to be to look realistic).
 */
export function simModelsFromOfferings(offerings: readonly SimOfferingSource[]): SimModelSpec[] {
  return offerings.map((o) => {
    const spec: SimModelSpec = {
      providerId: o.providerId,
      upstreamModel: o.upstreamModel,
      name: o.model.name,
      outputTokensPerSecond: o.referenceOutputTokensPerSecond,
      contextWindow: o.model.contextWindow,
      inputPerMTokMicros: o.price.inputPerMTokMicros,
      outputPerMTokMicros: o.price.outputPerMTokMicros,
      // The same quirk table the adapter uses: a host known to reject prefills rejects them here too.
      rejectsAssistantPrefill: !resolveQuirks(o.providerId, quirksFromRecord(o.provider?.quirks)).assistantPrefill,
    };
    if (o.defaultTtftMs !== undefined) spec.ttftMs = Math.round(o.defaultTtftMs / 2);
    return spec;
  });
}

function key(providerId: string, model: string): string {
  return `${providerId}\u0000${model}`;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  sendJson(res, status, { error: { message, type, code } }, headers);
}

interface ChatBody {
  model: string;
  messages: unknown[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: { function?: { name?: string; parameters?: Record<string, unknown> } }[];
  tool_choice?: unknown;
  response_format?: { type?: string; json_schema?: { schema?: Record<string, unknown> } };
  max_tokens?: number;
  max_completion_tokens?: number;
}
