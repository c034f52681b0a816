// The fallback executor driving the REAL adapter against the simulated fleet and its fault injection over
// loopback: each scenario asserts what the caller sees (who answered, usage, error class, attempts) and
// what the providers saw (no retry of the same model where forbidden, Retry-After honoured or not).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimFault } from '../../src/providers/sim-fleet.js';
import type { RouteRequest } from '../../src/routing/types.js';
import { ask, harness, injectFault, kinds, PROMPT_MARKER, startWorld, type World } from './execute-helpers.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterEach(() => w.fleet.clearFaults());
afterAll(async () => {
  await w.close();
});

const PRIMARY = 'groq/gpt-oss-20b';
const FALLBACK = 'zai/glm-5';
const THIRD = 'alibaba/qwen3.6-plus';

function split(key: string): { providerId: string; modelId: string } {
  const [providerId, modelId] = key.split('/') as [string, string];
  return { providerId, modelId };
}
const fault = (key: string, f: SimFault, times?: number): void => injectFault(w, key, f, times);
function hits(key: string): number {
  const { providerId, modelId } = split(key);
  return w.fleet.count({ providerId, model: w.catalog.offering(providerId, modelId)!.upstreamModel });
}
/** ceil(tokens × price / 1e6) per side, in BigInt: the reference for integer billing. */
function expectedCost(key: string, input: number, output: number): number {
  const { providerId, modelId } = split(key);
  const p = w.catalog.offering(providerId, modelId)!.price;
  const side = (t: number, m: number): bigint => (BigInt(t) * BigInt(m) + 999_999n) / 1_000_000n;
  return Number(side(input, p.inputPerMTokMicros) + side(output, p.outputPerMTokMicros));
}
const answered = (r: { providerId: string | null; modelId: string | null }): string => `${r.providerId}/${r.modelId}`;

describe('executor: happy path and accounting', () => {
  it('answers from the first route, bills integer micro-USD, emits routed → provider_ok → completed without text', async () => {
    const h = harness(w);
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(r.ok).toBe(true);
    expect(answered(r)).toBe(PRIMARY);
    expect(r.attempts).toHaveLength(1);
    expect(r.usage!.outputTokens).toBeGreaterThan(0);
    expect(r.costMicros).toBe(expectedCost(PRIMARY, r.usage!.inputTokens, r.usage!.outputTokens));
    expect(Number.isSafeInteger(r.costMicros)).toBe(true);
    expect(r.simulated).toBe(true);
    expect(r.fellBack).toBe(false);
    expect(kinds(h)).toEqual(['routed', 'provider_ok', 'completed']);
    const routed = h.events[0]!;
    expect(routed).toMatchObject({ model: 'gpt-oss-20b', provider: 'groq', agent: 'test-agent', decision: 'dec_test' });
    expect(routed.fields).toMatchObject({ candidates: expect.any(Number), eligible: 2, explored: 0 });
    const json = JSON.stringify(h.events);
    expect(json).not.toContain(PROMPT_MARKER);
    expect(json).not.toContain(r.content.slice(0, 20));
    for (const e of h.events) {
      for (const v of Object.values(e.fields ?? {})) {
        expect(typeof v === 'string' || Number.isSafeInteger(v)).toBe(true);
      }
    }
  });

  it('strips an assistant prefill for a host whose quirks reject it (recorded), without a failed attempt', async () => {
    const h = harness(w);
    const before = w.fleet.requests.length;
    const prefilled: RouteRequest = { ...ask, messages: [...ask.messages, { role: 'assistant', content: 'Sure:' }] };
    const r = await h.run(['deepseek/deepseek-v4-flash'], { request: prefilled });
    expect(r.ok).toBe(true);
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]!.adjustments).toEqual(['prefill_stripped']);
    expect(w.fleet.requests.slice(before).map((x) => x.prefill)).toEqual([false]);
    expect(h.events.find((e) => e.kind === 'provider_ok')!.fields).toMatchObject({ adjustments: 'prefill_stripped' });
  });
});

describe('executor: rate limits', () => {
  it('429 with a short Retry-After: waits it out and retries the same route', async () => {
    const h = harness(w);
    const fbBefore = hits(FALLBACK);
    fault(PRIMARY, { kind: 'rate_limit', resetHeader: '200ms' }, 1);
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(PRIMARY);
    expect(r.attempts.map((a) => a.kind)).toEqual(['first', 'retry']);
    expect(r.attempts[0]!.error).toMatchObject({ class: 'rate_limited', status: 429, retryAfterMs: 200 });
    expect(r.attempts[1]!.waitedMs).toBe(200);
    expect(h.sleeps).toEqual([200]);
    expect(r.attempts[0]!.costMicros).toBe(0);
    expect(hits(FALLBACK) - fbBefore).toBe(0);
  });

  it('429 with a long Retry-After (seconds or HTTP-date): fails over at once, never hammers', async () => {
    for (const f of [{ kind: 'rate_limit', retryAfterSeconds: 30 }, { kind: 'rate_limit', retryAfterDateMs: 45_000 }] as SimFault[]) {
      const h = harness(w);
      const before = hits(PRIMARY);
      fault(PRIMARY, f);
      const r = await h.run([PRIMARY, FALLBACK]);
      expect(answered(r)).toBe(FALLBACK);
      expect(hits(PRIMARY) - before).toBe(1);
      expect(h.sleeps).toEqual([]);
      expect(kinds(h)).toEqual(['routed', 'provider_error', 'fallback', 'provider_ok', 'completed']);
      expect(h.events[2]!.fields).toMatchObject({ fromModel: 'gpt-oss-20b', fromProvider: 'groq', reason: 'rate_limited' });
      // The breaker honours the Retry-After: the route stays closed to the next call.
      expect(h.signals.breakerState('gpt-oss-20b', 'groq', w.clock.t).state).toBe('open');
      w.fleet.clearFaults();
    }
  });

  it('persistent 429 without Retry-After: bounded, fully jittered backoff on the same route, then fail over', async () => {
    // A breaker with a tiny rate-limit cooldown lets the backoff itself show; the default one opens at once.
    const h = harness(w, { signals: { breaker: { rateLimitCooldownMs: 1 } }, random: () => 0.5 });
    const before = hits(PRIMARY);
    fault(PRIMARY, { kind: 'rate_limit' });
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(hits(PRIMARY) - before).toBe(3); // first + rateLimitRetries (2)
    // full jitter: uniform(0, min(max, base·2^n)) with random 0.5 → 100, 200
    expect(h.sleeps).toEqual([100, 200]);
    expect(r.attempts.map((a) => a.kind)).toEqual(['first', 'retry', 'retry', 'fallback']);

    const strict = harness(w); // default breaker: opens on the 429, so the retry is refused
    const before2 = hits(PRIMARY);
    const r2 = await strict.run([PRIMARY, FALLBACK]);
    expect(answered(r2)).toBe(FALLBACK);
    expect(hits(PRIMARY) - before2).toBe(1);
    expect(r2.skipped).toContainEqual({ modelId: 'gpt-oss-20b', providerId: 'groq', reason: 'breaker_open' });
  });
});

describe('executor: server errors and connections', () => {
  it('500 once then healthy: one retry of the same model', async () => {
    const h = harness(w);
    const fbBefore = hits(FALLBACK);
    fault(PRIMARY, { kind: 'status', status: 500 }, 1);
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(PRIMARY);
    expect(r.attempts.map((a) => [a.kind, a.ok, a.status])).toEqual([
      ['first', false, 500],
      ['retry', true, null],
    ]);
    expect(hits(FALLBACK) - fbBefore).toBe(0);
  });

  it('persistent 503: fails over at once when there is somewhere to go; one retry when there is not', async () => {
    const h = harness(w);
    const before = hits(PRIMARY);
    fault(PRIMARY, { kind: 'status', status: 503 });
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(hits(PRIMARY) - before).toBe(1);

    const alone = harness(w);
    const before2 = hits(PRIMARY);
    const r2 = await alone.run([PRIMARY]);
    expect(r2.ok).toBe(false);
    expect(r2.reason).toBe('all_failed');
    expect(r2.error).toMatchObject({ class: 'overloaded', status: 503 });
    expect(hits(PRIMARY) - before2).toBe(2);
    expect(r2.costMicros).toBe(0);
    expect(kinds(alone)).toEqual(['routed', 'provider_error', 'provider_error', 'rejected']);
    expect(alone.events.at(-1)!.fields).toMatchObject({ reason: 'all_failed', errorClass: 'overloaded', status: 503, attempts: 2 });
  });

  it('TCP reset before headers: one retry on a fresh connection, then fail over', async () => {
    const h = harness(w);
    fault(PRIMARY, { kind: 'reset_before_headers' }, 1);
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(PRIMARY);
    expect(r.attempts.map((a) => a.error?.class ?? 'ok')).toEqual(['connection_reset', 'ok']);

    const h2 = harness(w);
    const before = hits(PRIMARY);
    fault(PRIMARY, { kind: 'reset_before_headers' });
    const r2 = await h2.run([PRIMARY, FALLBACK]);
    expect(answered(r2)).toBe(FALLBACK);
    expect(hits(PRIMARY) - before).toBe(2);
  });

  it('a provider that never answers: bounded by the first-token limit, no retry of the silent route', async () => {
    const h = harness(w);
    const before = hits(PRIMARY);
    fault(PRIMARY, { kind: 'never_answer' });
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(r.attempts[0]!.error!.class).toBe('timeout_first_token');
    expect(hits(PRIMARY) - before).toBe(1);
  });

  it('slow first token: the first-token limit fails over', async () => {
    const h = harness(w);
    fault(PRIMARY, { kind: 'slow_first_token', delayMs: 3000 });
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(r.attempts[0]!.error!.class).toBe('timeout_first_token');
    expect(r.attempts[0]!.costMicros).toBe(0);
  });
});

describe('executor: broken streams', () => {
  const broken: [string, SimFault, string[]][] = [
    ['cut (response ended)', { kind: 'cut_mid_stream', afterTokens: 4, how: 'end' }, ['stream_cut']],
    ['cut (socket destroyed)', { kind: 'cut_mid_stream', afterTokens: 4, how: 'destroy' }, ['connection_reset', 'stream_cut']],
    ['stalled', { kind: 'stall_mid_stream', afterTokens: 4 }, ['timeout_stall']],
    ['malformed SSE event', { kind: 'malformed_event', afterTokens: 2 }, ['malformed_stream']],
  ];
  for (const [name, f, classes] of broken) {
    it(`${name}: fails over when nothing reached the client; the answer is whole`, async () => {
      const h = harness(w);
      const before = hits(PRIMARY);
      fault(PRIMARY, f);
      const r = await h.run([PRIMARY, FALLBACK]);
      expect(answered(r)).toBe(FALLBACK);
      expect(classes).toContain(r.attempts[0]!.error!.class);
      expect(hits(PRIMARY) - before).toBe(1);
      expect(['stop', 'length']).toContain(r.finishReason);
      expect(r.usage!.outputTokens).toBeGreaterThan(0);
    });

    it(`${name}: once text reached the client, a clear error instead of a silent switch`, async () => {
      const h = harness(w);
      fault(PRIMARY, f);
      const seen: string[] = [];
      const r = await h.run([PRIMARY, FALLBACK], { onDelta: (t) => seen.push(t) });
      expect(seen.join('').length).toBeGreaterThan(0);
      expect(r.ok).toBe(false);
      expect(r.reason).toBe('partial_output_streamed');
      expect(r.partialOutputStreamed).toBe(true);
      expect(classes).toContain(r.error!.class);
      expect(r.attempts).toHaveLength(1);
      expect(r.costMicros).toBe(0);
      expect(r.message).toMatch(/not switching models/);
      expect(kinds(h)).toEqual(['routed', 'provider_error', 'rejected']);
    });
  }

  it('a stream that ends without [DONE] finishes promptly with its usage', async () => {
    const h = harness(w, { limits: { timeouts: { connectMs: 1000, firstTokenMs: 400, stallMs: 60_000, totalMs: 60_000 } } });
    fault(PRIMARY, { kind: 'no_done', hold: true });
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(answered(r)).toBe(PRIMARY);
    expect(r.usageEstimated).toBe(false);
    expect(r.attempts).toHaveLength(1);
  });
});

describe('executor: request-shaped failures', () => {
  it('context length exceeded: never the same model again (on any host), only a larger context window', async () => {
    const h = harness(w);
    const primary = 'deepseek/deepseek-v4-flash'; // 128K
    const before = hits(primary);
    fault(primary, { kind: 'context_length' });
    const r = await h.run([primary, 'deepinfra/deepseek-v4-flash', 'groq/gpt-oss-120b', FALLBACK]);
    expect(answered(r)).toBe(FALLBACK); // 200K
    expect(r.attempts).toHaveLength(2);
    expect(hits(primary) - before).toBe(1);
    expect(r.skipped).toEqual([
      { modelId: 'deepseek-v4-flash', providerId: 'deepinfra', reason: 'context_too_small' },
      { modelId: 'gpt-oss-120b', providerId: 'groq', reason: 'context_too_small' },
    ]);
    expect(h.events.find((e) => e.kind === 'fallback')!.fields).toMatchObject({ reason: 'context_length' });
  });

  it('content-filter refusal: no retry of the same model; falls back with the reason propagated, or stops if so configured', async () => {
    const h = harness(w);
    const primary = 'together/gpt-oss-120b';
    fault(primary, { kind: 'content_filter' });
    const r = await h.run([primary, 'groq/gpt-oss-120b', FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(r.attempts[0]!.error).toMatchObject({ class: 'refusal', detail: 'content_filter' });
    expect(r.skipped).toEqual([{ modelId: 'gpt-oss-120b', providerId: 'groq', reason: 'model_refused' }]);
    expect(h.events.find((e) => e.kind === 'fallback')!.fields).toMatchObject({ reason: 'refusal' });
    expect(h.events.find((e) => e.kind === 'provider_error')!.fields).toMatchObject({ errorClass: 'refusal', detail: 'content_filter' });

    const strict = harness(w, { limits: { onRefusal: 'fail' } });
    const r2 = await strict.run([primary, FALLBACK]);
    expect(r2.ok).toBe(false);
    expect(r2.reason).toBe('refusal');
    expect(r2.error!.class).toBe('refusal');
    expect(r2.attempts).toHaveLength(1);
  });

  it('a fallback model that rejects an assistant prefill: retried without it (recorded), or skipped if so configured', async () => {
    const prefilled: RouteRequest = { ...ask, messages: [...ask.messages, { role: 'assistant', content: '{"answer":' }] };
    const fb = 'together/gpt-oss-120b';
    fault(PRIMARY, { kind: 'status', status: 503 });
    fault(fb, { kind: 'reject_prefill' });
    const h = harness(w);
    const start = w.fleet.requests.length;
    const r = await h.run([PRIMARY, fb, FALLBACK], { request: prefilled });
    expect(answered(r)).toBe(fb);
    expect(r.attempts.map((a) => [a.providerId, a.error?.detail ?? a.error?.class ?? 'ok', a.adjustments.join()])).toEqual([
      ['groq', 'overloaded', ''],
      ['together', 'prefill_rejected', ''],
      ['together', 'ok', 'prefill_stripped'],
    ]);
    const seenByTogether = w.fleet.requests.slice(start).filter((x) => x.providerId === 'together').map((x) => x.prefill);
    expect(seenByTogether).toEqual([true, false]);

    const skipper = harness(w, { limits: { onPrefillRejected: 'skip' } });
    const r2 = await skipper.run([PRIMARY, fb, FALLBACK], { request: prefilled });
    expect(answered(r2)).toBe(FALLBACK);
    expect(r2.attempts.map((a) => a.providerId)).toEqual(['groq', 'together', 'zai']);
  });
});

describe('executor: output and key problems', () => {
  it('invalid JSON in JSON mode: fails over (the same answer is not billed) and the caller gets valid JSON', async () => {
    const h = harness(w);
    fault(PRIMARY, { kind: 'invalid_output' });
    const r = await h.run([PRIMARY, FALLBACK], { request: { ...ask, responseFormat: { type: 'json_object' } } });
    expect(answered(r)).toBe(FALLBACK);
    expect(r.attempts[0]!.error).toMatchObject({ class: 'invalid_output', detail: 'invalid_json' });
    expect(r.attempts[0]!.costMicros).toBe(0);
    expect(() => JSON.parse(r.content) as unknown).not.toThrow();
  });

  it('an auth failure skips every other model on that provider', async () => {
    const h = harness(w);
    w.fleet.inject({ providerId: 'groq', fault: { kind: 'status', status: 401, code: 'invalid_api_key', message: 'Invalid API Key' } });
    const r = await h.run([PRIMARY, 'groq/gpt-oss-120b', FALLBACK]);
    expect(answered(r)).toBe(FALLBACK);
    expect(r.attempts[0]!.error!.class).toBe('auth');
    expect(r.skipped).toEqual([{ modelId: 'gpt-oss-120b', providerId: 'groq', reason: 'provider_auth_failed' }]);
  });
});

describe('executor: budget, retry budget, deadline, abort', () => {
  it('skips a route whose worst case no longer fits the money held', async () => {
    const h = harness(w);
    fault(PRIMARY, { kind: 'status', status: 503 });
    const expensive = 'alibaba/qwen3-max';
    const cheapPlan = h.plan([PRIMARY, expensive, THIRD]);
    const budget = Math.max(cheapPlan.attempts[0]!.worstCaseCostMicros, cheapPlan.attempts[2]!.worstCaseCostMicros);
    expect(cheapPlan.attempts[1]!.worstCaseCostMicros).toBeGreaterThan(budget);
    const r = await h.run([PRIMARY, expensive, THIRD], { budgetMicros: budget });
    expect(answered(r)).toBe(THIRD);
    expect(r.skipped).toContainEqual({ modelId: 'qwen3-max', providerId: 'alibaba', reason: 'over_budget' });
    expect(r.attempts.map((a) => a.providerId)).toEqual(['groq', 'alibaba']);
    expect(r.attempts[1]!.modelId).toBe('qwen3.6-plus');
  });

  it('stops at the retry budget', async () => {
    const h = harness(w, { limits: { maxAttempts: 2 } });
    for (const k of [PRIMARY, FALLBACK, THIRD]) fault(k, { kind: 'status', status: 503 });
    const before = hits(THIRD);
    const r = await h.run([PRIMARY, FALLBACK, THIRD]);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('retry_budget');
    expect(r.attempts).toHaveLength(2);
    expect(hits(THIRD) - before).toBe(0);
  });

  it('does not wait for a Retry-After that would pass the deadline', async () => {
    const h = harness(w, { limits: { deadlineMs: 150 } });
    fault(PRIMARY, { kind: 'rate_limit', resetHeader: '200ms' }, 1);
    const r = await h.run([PRIMARY, FALLBACK]);
    expect(h.sleeps).toEqual([]);
    expect(answered(r)).toBe(FALLBACK);
  });

  it('stops at once when the caller aborts; the provider is not blamed', async () => {
    const h = harness(w);
    fault(PRIMARY, { kind: 'slow_first_token', delayMs: 3000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const r = await h.run([PRIMARY, FALLBACK], { signal: ac.signal });
    expect(r.ok).toBe(false);
    expect(r.aborted).toBe(true);
    expect(r.reason).toBe('aborted');
    expect(r.attempts).toHaveLength(1);
    expect(h.signals.breakerState('gpt-oss-20b', 'groq', w.clock.t).consecutiveFailures).toBe(0);
  });
});
