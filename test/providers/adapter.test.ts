// The real adapter against the simulated fleet (and its fault-injecting API) over loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAICompatibleAdapter } from '../../src/providers/openai-compatible.js';
import { ProviderPools } from '../../src/providers/pool.js';
import { startSimFleet, type SimFleet } from '../../src/providers/sim-fleet.js';
import type { ChatRequest, Delta, ProviderFailure, ProviderResult, ProviderSuccess } from '../../src/providers/types.js';

const MODELS = [
  { providerId: 'novita', upstreamModel: 'qwen-max', outputTokensPerSecond: 200, contextWindow: 32_000, inputPerMTokMicros: 600_000, outputPerMTokMicros: 2_400_000 },
  { providerId: 'novita', upstreamModel: 'glm-small', outputTokensPerSecond: 120, contextWindow: 1_000, inputPerMTokMicros: 100_000, outputPerMTokMicros: 300_000 },
  { providerId: 'groq', upstreamModel: 'llama-fast', outputTokensPerSecond: 500, contextWindow: 128_000, inputPerMTokMicros: 50_000, outputPerMTokMicros: 80_000 },
];
const TIMEOUTS = { connectMs: 1000, firstTokenMs: 400, stallMs: 250, totalMs: 4000 };
const ask: ChatRequest = { messages: [{ role: 'user', content: 'Write two sentences about routers.' }] };

let fleet: SimFleet;
let pools: ProviderPools;
let novita: OpenAICompatibleAdapter;

beforeAll(async () => {
  fleet = await startSimFleet({ models: MODELS, timeScale: 50, chaos: false, seed: 7 });
  pools = new ProviderPools();
  novita = new OpenAICompatibleAdapter({ providerId: 'novita', baseUrl: fleet.baseUrl('novita'), apiKeyEnv: 'NOVITA_TEST_KEY', env: { NOVITA_TEST_KEY: 'sk-novita-secret-0123456789' }, pools });
});
afterEach(() => fleet.clearFaults());
afterAll(async () => {
  await pools.close();
  await fleet.close();
});

function call(opts: Partial<Parameters<OpenAICompatibleAdapter['call']>[0]> = {}): Promise<ProviderResult> {
  return novita.call({ upstreamModel: 'qwen-max', request: ask, timeouts: TIMEOUTS, ...opts });
}
function ok(r: ProviderResult): ProviderSuccess {
  if (!r.ok) throw new Error(`expected success, got ${r.error.class}: ${r.error.message}`);
  return r;
}
function failed(r: ProviderResult): ProviderFailure {
  if (r.ok) throw new Error(`expected failure, got success (${r.finishReason})`);
  return r;
}

describe('adapter against the simulated fleet', () => {
  it('streams a completion with usage, TTFT, speed, the raw model id and the simulated label', async () => {
    const deltas: Delta[] = [];
    const r = ok(await call({ onDelta: (d) => deltas.push(d) }));
    expect(r.content.length).toBeGreaterThan(10);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe(r.content);
    expect(r.streamedChars).toBe(r.content.length);
    expect(r.finishReason).toBe('stop');
    expect(r.usage.outputTokens).toBeGreaterThan(0);
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    expect(r.usageEstimated).toBe(false);
    expect(r.ttftMs).not.toBeNull();
    expect(r.rawModel).toBe('qwen-max');
    expect(r.simulated).toBe(true);
    expect(r.content).not.toContain('routers');
  });

  it('answers non-streaming calls', async () => {
    const r = ok(await call({ stream: false }));
    expect(r.content.length).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
    expect(r.streamedChars).toBe(0);
  });

  it('reuses one pooled keep-alive connection per origin', async () => {
    const before = pools.size;
    const groq = new OpenAICompatibleAdapter({ providerId: 'groq', baseUrl: fleet.baseUrl('groq'), pools });
    ok(await groq.call({ upstreamModel: 'llama-fast', request: ask, timeouts: TIMEOUTS }));
    ok(await call());
    // groq and novita share the fleet's origin: still one pool.
    expect(pools.size).toBe(Math.max(before, 1));
    const pool = pools.get(fleet.url);
    const connected = pool.stats.connected;
    for (let i = 0; i < 5; i++) ok(await call());
    expect(pool.stats.connected).toBe(connected);
  });

  it('returns tool calls with JSON arguments when tools are offered, and honours max_tokens (finish length)', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } } }];
    const r = ok(await call({ request: { ...ask, tools } }));
    expect(r.finishReason).toBe('tool_calls');
    expect(r.toolCalls).toHaveLength(1);
    expect(r.toolCalls[0]!.name).toBe('lookup');
    expect(typeof (JSON.parse(r.toolCalls[0]!.arguments) as { id: unknown }).id).toBe('number');
    const short = ok(await call({ request: { ...ask, maxOutputTokens: 3 } }));
    expect(short.finishReason).toBe('length');
    expect(short.usage.outputTokens).toBe(3);
  });

  it('returns valid JSON in JSON mode and json_schema mode', async () => {
    const r = ok(await call({ request: { ...ask, response_format: { type: 'json_object' } } }));
    expect(() => JSON.parse(r.content) as unknown).not.toThrow();
    const schema = { type: 'object', properties: { name: { type: 'string' }, n: { type: 'integer' } }, required: ['name', 'n'] };
    const s = ok(await call({ request: { ...ask, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } } }));
    expect(Object.keys(JSON.parse(s.content) as object).sort()).toEqual(['n', 'name']);
  });

  it('classifies 429 with Retry-After seconds, HTTP-date and x-ratelimit-reset', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'rate_limit', retryAfterSeconds: 2 }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'rate_limited', status: 429, retryAfterMs: 2000 });
    fleet.inject({ providerId: 'novita', fault: { kind: 'rate_limit', retryAfterDateMs: 30_000 }, times: 1 });
    const d = failed(await call()).error;
    expect(d.class).toBe('rate_limited');
    expect(d.retryAfterMs).toBeGreaterThan(20_000);
    fleet.inject({ providerId: 'novita', fault: { kind: 'rate_limit', resetHeader: '750ms' }, times: 1 });
    expect(failed(await call()).error.retryAfterMs).toBe(750);
    fleet.inject({ providerId: 'novita', fault: { kind: 'rate_limit' }, times: 1 });
    expect(failed(await call()).error.retryAfterMs).toBeUndefined();
  });

  it('classifies 500/503/529 as overloaded and recovers after a one-shot 500', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'status', status: 500 }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'overloaded', status: 500, sameModelRetryable: true });
    ok(await call());
    fleet.inject({ providerId: 'novita', fault: { kind: 'status', status: 529 }, times: 1 });
    expect(failed(await call()).error.class).toBe('overloaded');
  });

  it('classifies a TCP reset before headers as connection_reset', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'reset_before_headers' }, times: 1 });
    const r = failed(await call());
    expect(r.error.class).toBe('connection_reset');
    expect(r.ttftMs).toBeNull();
    ok(await call());
  });

  it('bounds a provider that never answers by the first-token limit', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'never_answer' }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'timeout_first_token', sameModelRetryable: false });
    fleet.inject({ providerId: 'novita', fault: { kind: 'never_answer' }, times: 1 });
    expect(failed(await call({ timeouts: { ...TIMEOUTS, firstTokenMs: 5000, totalMs: 300 } })).error.class).toBe('timeout_total');
  });

  it('fails a slow first token with timeout_first_token (headers arrived, no token)', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'slow_first_token', delayMs: 2000 }, times: 1 });
    const r = failed(await call());
    expect(r.error.class).toBe('timeout_first_token');
    expect(r.streamedChars).toBe(0);
  });

  it('never presents a cut stream as success (socket destroyed or response ended)', async () => {
    const seen: string[] = [];
    fleet.inject({ providerId: 'novita', fault: { kind: 'cut_mid_stream', afterTokens: 5, how: 'destroy' }, times: 1 });
    const a = failed(await call({ onDelta: (d) => seen.push(d.content ?? '') }));
    expect(['connection_reset', 'stream_cut']).toContain(a.error.class);
    expect(a.streamedChars).toBeGreaterThan(0);
    fleet.inject({ providerId: 'novita', fault: { kind: 'cut_mid_stream', afterTokens: 5, how: 'end' }, times: 1 });
    const b = failed(await call());
    expect(b.error.class).toBe('stream_cut');
    expect(b.error.message).toMatch(/finish_reason/);
  });

  it('fails a stalled stream with timeout_stall', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'stall_mid_stream', afterTokens: 3 }, times: 1 });
    const r = failed(await call());
    expect(r.error.class).toBe('timeout_stall');
    expect(r.streamedChars).toBeGreaterThan(0);
  });

  it('fails a malformed SSE event with malformed_stream', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'malformed_event', afterTokens: 2 }, times: 1 });
    expect(failed(await call()).error.class).toBe('malformed_stream');
  });

  it('finishes a stream without [DONE] promptly as success, with usage, even if the connection stays open', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'no_done' }, times: 1 });
    const a = ok(await call());
    expect(a.usageEstimated).toBe(false);
    fleet.inject({ providerId: 'novita', fault: { kind: 'no_done', hold: true }, times: 1 });
    // totalMs far beyond the stall limit: success must come from the finish_reason + usage, not a timer.
    const b = ok(await call({ timeouts: { ...TIMEOUTS, stallMs: 60_000, totalMs: 60_000 } }));
    expect(b.usage.outputTokens).toBeGreaterThan(0);
    expect(b.finishReason).toBe('stop');
  });

  it('estimates usage when the provider sends none', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'no_usage' }, times: 1 });
    const r = ok(await call());
    expect(r.usageEstimated).toBe(true);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
  });

  it('classifies context length exceeded (scripted and real) without sending the prompt back', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'context_length' }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'context_length', status: 400, retryable: true, sameModelRetryable: false });
    const big: ChatRequest = { messages: [{ role: 'user', content: 'lorem '.repeat(2000) }] };
    const r = failed(await novita.call({ upstreamModel: 'glm-small', request: big, timeouts: TIMEOUTS }));
    expect(r.error.class).toBe('context_length');
    expect(r.error.message).not.toContain('lorem');
  });

  it('classifies content-filter refusals (finish_reason and 400)', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'content_filter' }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'refusal', detail: 'content_filter', sameModelRetryable: false });
    fleet.inject({ providerId: 'novita', fault: { kind: 'content_filter', mode: 'error' }, times: 1 });
    expect(failed(await call()).error).toMatchObject({ class: 'refusal', status: 400 });
  });

  it('classifies a rejected assistant prefill, and strips it when asked', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'reject_prefill' } });
    const prefilled: ChatRequest = { messages: [...ask.messages, { role: 'assistant', content: 'Sure:' }] };
    expect(failed(await call({ request: prefilled })).error).toMatchObject({ class: 'bad_request', detail: 'prefill_rejected', sameModelRetryable: true });
    const r = ok(await call({ request: prefilled, stripPrefill: true }));
    expect(r.adjustments).toEqual(['prefill_stripped']);
    ok(await call({ modelQuirks: { assistantPrefill: false }, request: prefilled }));
  });

  it('flags invalid JSON output and malformed tool-call arguments as invalid_output', async () => {
    fleet.inject({ providerId: 'novita', fault: { kind: 'invalid_output' }, times: 1 });
    expect(failed(await call({ request: { ...ask, response_format: { type: 'json_object' } } })).error).toMatchObject({ class: 'invalid_output', detail: 'invalid_json' });
    fleet.inject({ providerId: 'novita', fault: { kind: 'invalid_output' }, times: 1 });
    const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }];
    expect(failed(await call({ request: { ...ask, tools } })).error).toMatchObject({ class: 'invalid_output', detail: 'invalid_tool_arguments' });
  });

  it('classifies a persistent 503 outage and recovers after it', async () => {
    const now = { t: 1_000_000 };
    const f2 = await startSimFleet({ models: MODELS, timeScale: 50, chaos: false, now: () => now.t });
    try {
      const a = new OpenAICompatibleAdapter({ providerId: 'groq', baseUrl: f2.baseUrl('groq'), pools });
      f2.inject({ providerId: 'groq', fault: { kind: 'down', forMs: 60_000 } });
      expect(failed(await a.call({ upstreamModel: 'llama-fast', request: ask, timeouts: TIMEOUTS })).error).toMatchObject({ class: 'overloaded', status: 503 });
      now.t += 61_000;
      ok(await a.call({ upstreamModel: 'llama-fast', request: ask, timeouts: TIMEOUTS }));
    } finally {
      await f2.close();
    }
  });

  it('returns auth for 401 and never puts the key in the message', async () => {
    const srv = http.createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'invalid_api_key', message: `Incorrect API key provided: ${String(_req.headers.authorization).slice(7)}` } }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const a = new OpenAICompatibleAdapter({ providerId: 'x', baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-very-secret-key-123456', pools });
      const r = failed(await a.call({ upstreamModel: 'm', request: ask, timeouts: TIMEOUTS }));
      expect(r.error.class).toBe('auth');
      expect(r.error.message).not.toContain('very-secret');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('keeps provider-controlled text out of finish_reason and usage (both reach the public chain)', async () => {
    const bodies = [
      { choices: [{ message: { content: 'hi' }, finish_reason: 'The user asked about their diagnosis' }], usage: { prompt_tokens: 1e300, completion_tokens: 3.7 } },
      { choices: [{ message: { content: 'hi' }, finish_reason: { nested: true } }], usage: { prompt_tokens: 2, completion_tokens: 1 } },
      { choices: [{ message: { content: 'hi' }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 2, completion_tokens: 1 } },
    ];
    let i = 0;
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(bodies[i++]));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const a = new OpenAICompatibleAdapter({ providerId: 'x', baseUrl: `http://127.0.0.1:${port}/v1`, pools });
      const first = ok(await a.call({ upstreamModel: 'm', request: ask, timeouts: TIMEOUTS, stream: false }));
      expect(first.finishReason).toBe('other');
      expect(first.usage).toEqual({ inputTokens: Number.MAX_SAFE_INTEGER, outputTokens: 4 });
      expect(ok(await a.call({ upstreamModel: 'm', request: ask, timeouts: TIMEOUTS, stream: false })).finishReason).toBe('other');
      expect(ok(await a.call({ upstreamModel: 'm', request: ask, timeouts: TIMEOUTS, stream: false })).finishReason).toBe('tool_calls');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('stops at once when the caller aborts, and when onDelta throws', async () => {
    const ac = new AbortController();
    fleet.inject({ providerId: 'novita', fault: { kind: 'slow_first_token', delayMs: 3000 }, times: 1 });
    const p = call({ signal: ac.signal, timeouts: { ...TIMEOUTS, firstTokenMs: 10_000 } });
    setTimeout(() => ac.abort(), 30);
    expect(failed(await p).error).toMatchObject({ class: 'aborted', retryable: false });
    const r = failed(
      await call({
        onDelta: () => {
          throw new Error('client gone');
        },
      }),
    );
    expect(r.error.class).toBe('aborted');
  });
});
