import { describe, expect, it } from 'vitest';
import { classifyHttpError, classifyNetworkError, parseResetValue, parseRetryAfterMs, scrub } from '../../src/providers/errors.js';
import { buildWireBody, resolveQuirks } from '../../src/providers/quirks.js';
import { microsPerMTokToUsdPerToken } from '../../src/providers/sim-text.js';

describe('Retry-After parsing', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  it('reads seconds, HTTP-dates and retry-after-ms', () => {
    expect(parseRetryAfterMs({ 'retry-after': '3' }, now)).toBe(3000);
    expect(parseRetryAfterMs({ 'retry-after': 'Tue, 24 Nov 2026 12:00:05 GMT' }, now)).toBe(5000);
    expect(parseRetryAfterMs({ 'retry-after': 'Tue, 24 Nov 2026 11:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfterMs({ 'retry-after-ms': '250', 'retry-after': '9' }, now)).toBe(250);
    expect(parseRetryAfterMs({}, now)).toBeUndefined();
  });
  it('reads x-ratelimit-reset-* and prefers the exhausted limit', () => {
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '1m30.5s' }, now)).toBe(90_500);
    expect(
      parseRetryAfterMs(
        { 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-reset-tokens': '40s', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '900' },
        now,
      ),
    ).toBe(2000);
    expect(parseRetryAfterMs({ 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-reset-tokens': '40s' }, now)).toBe(40_000);
  });
  it('parses reset durations and epoch seconds', () => {
    expect(parseResetValue('20ms', now)).toBe(20);
    expect(parseResetValue('6m0s', now)).toBe(360_000);
    expect(parseResetValue(String(now / 1000 + 7), now)).toBe(7000);
    expect(parseResetValue('soon', now)).toBeUndefined();
  });
});

describe('classification', () => {
  const body = (code: string, message: string) => JSON.stringify({ error: { code, message, type: 'invalid_request_error' } });
  it('maps statuses and bodies to classes with retry hints', () => {
    const c429 = classifyHttpError(429, { 'retry-after': '2' }, body('rate_limit_exceeded', 'slow down'));
    expect(c429).toMatchObject({ class: 'rate_limited', status: 429, retryAfterMs: 2000, retryable: true, sameModelRetryable: true });
    expect(classifyHttpError(503, {}, 'Service Unavailable').class).toBe('overloaded');
    expect(classifyHttpError(529, {}, '').class).toBe('overloaded');
    expect(classifyHttpError(401, {}, body('invalid_api_key', 'bad key'))).toMatchObject({ class: 'auth', sameModelRetryable: false });
    const ctx = classifyHttpError(400, {}, body('context_length_exceeded', "This model's maximum context length is 8192 tokens"));
    expect(ctx).toMatchObject({ class: 'context_length', sameModelRetryable: false, retryable: true });
    expect(classifyHttpError(400, {}, body('', 'Please reduce the length: maximum context length is 4096')).class).toBe('context_length');
    expect(classifyHttpError(400, {}, body('content_filter', 'filtered'))).toMatchObject({ class: 'refusal', detail: 'content_filter', sameModelRetryable: false });
    expect(classifyHttpError(400, {}, body('invalid_request_error', 'Assistant prefill is not supported'))).toMatchObject({ class: 'bad_request', detail: 'prefill_rejected', sameModelRetryable: true });
    expect(classifyHttpError(400, {}, body('invalid_request_error', 'temperature must be <= 2'))).toMatchObject({ class: 'bad_request', retryable: false });
  });
  it('never carries the API key in a message', () => {
    const e = classifyHttpError(401, {}, body('invalid_api_key', 'Incorrect API key provided: sk-live-abcdefghijklmnop1234'), 'sk-live-abcdefghijklmnop1234');
    expect(e.message).not.toContain('abcdefghijklmnop');
    expect(scrub('key gsk_ABCDEFGHIJKLMNOPQRST here')).toBe('key [redacted] here');
  });
  it('maps socket errors', () => {
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), false).class).toBe('connection_reset');
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }), true).class).toBe('connection_reset');
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), false).class).toBe('timeout_connect');
    // Nobody listening: fails over and opens the breaker like a 503, and says why.
    expect(classifyNetworkError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), false)).toMatchObject({
      class: 'overloaded',
      detail: 'unreachable',
      retryable: true,
    });
  });
});

describe('quirks', () => {
  const req = {
    messages: [
      { role: 'system' as const, content: 'be brief' },
      { role: 'user' as const, content: 'q' },
      { role: 'assistant' as const, content: '{"a":' },
    ],
    maxOutputTokens: 100,
    temperature: 0.2,
  };
  it('applies max-tokens field, prefill, system role and stream usage as data', () => {
    const q = resolveQuirks('openai');
    const { body, adjustments } = buildWireBody(req, { model: 'gpt-x', stream: true, quirks: { ...q, systemRole: false } });
    expect(body.max_completion_tokens).toBe(100);
    expect(body.max_tokens).toBeUndefined();
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.messages).toEqual([{ role: 'user', content: 'be brief\n\nq' }]);
    expect(adjustments).toEqual(['prefill_stripped', 'system_folded']);
    const plain = buildWireBody(req, { model: 'm', stream: true, quirks: resolveQuirks('groq', { streamUsage: false }) });
    expect(plain.body.max_tokens).toBe(100);
    expect(plain.body.stream_options).toBeUndefined();
    expect((plain.body.messages as unknown[]).length).toBe(3);
    expect(plain.adjustments).toEqual([]);
  });
});

describe('OpenRouter price strings', () => {
  it('formats micro-USD per million tokens exactly as USD per token', () => {
    expect(microsPerMTokToUsdPerToken(600_000)).toBe('0.0000006');
    expect(microsPerMTokToUsdPerToken(2_190_000)).toBe('0.00000219');
    expect(microsPerMTokToUsdPerToken(75_000_000_000_000)).toBe('75');
    expect(microsPerMTokToUsdPerToken(0)).toBe('0');
    expect(() => microsPerMTokToUsdPerToken(1.5)).toThrow(/integer/);
  });
});

describe('5xx and rate-limit headers', () => {
  it('ignores x-ratelimit-reset-* on a 5xx (hosts send them on every answer) but honours Retry-After', () => {
    expect(classifyHttpError(503, { 'x-ratelimit-reset-requests': '20s' }, '').retryAfterMs).toBeUndefined();
    expect(classifyHttpError(503, { 'retry-after': '4' }, '').retryAfterMs).toBe(4000);
  });
});
