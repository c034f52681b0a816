import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { predictLatency } from '../../src/routing/latency.js';
import { priorMean } from '../../src/routing/outcomes.js';
import { Signals, SignalsInputError } from '../../src/routing/signals.js';
import type { AttemptOutcome, BreakerTransition } from '../../src/routing/types.js';

const catalog = new Catalog({ now: 0 });
const M = 'gpt-oss-120b';
const P = 'groq';

function fresh() {
  const signals = new Signals(catalog);
  const events: BreakerTransition[] = [];
  signals.onBreakerTransition((t) => events.push(t));
  const report = (outcome: AttemptOutcome, at: number, extra: { retryAfterMs?: number; startedAt?: number } = {}) =>
    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome, at, ...extra });
  return { signals, events, report };
}

describe('availability breaker per (provider, model)', () => {
  it('opens on a 429 until exactly Retry-After, then lets exactly one probe through, closes on success', () => {
    const { signals, events, report } = fresh();
    expect(signals.isAvailable(M, P, 0)).toBe(true);
    report('rate_limited', 1_000, { retryAfterMs: 7_000 });
    expect(signals.breakerState(M, P, 1_001)).toMatchObject({ state: 'open', until: 8_000 });
    expect(signals.isAvailable(M, P, 7_999)).toBe(false);
    expect(signals.tryAcquire(M, P, 7_999)).toBe(false);

    // Cooldown over: half-open. isAvailable has no side effect; tryAcquire takes the single slot.
    expect(signals.isAvailable(M, P, 8_000)).toBe(true);
    expect(signals.isAvailable(M, P, 8_000)).toBe(true);
    expect(signals.tryAcquire(M, P, 8_000)).toBe(true);
    expect(signals.tryAcquire(M, P, 8_001)).toBe(false);
    expect(signals.isAvailable(M, P, 8_001)).toBe(false);
    expect(signals.breakerState(M, P, 8_001)).toMatchObject({ state: 'half_open', probeInFlight: true });

    report('success', 8_500, { startedAt: 8_000 });
    expect(signals.breakerState(M, P, 8_501).state).toBe('closed');
    expect(signals.tryAcquire(M, P, 8_502)).toBe(true);
    expect(signals.tryAcquire(M, P, 8_502)).toBe(true);
    expect(events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual([
      'closed>open:rate_limited',
      'open>half_open:cooldown_elapsed',
      'half_open>closed:probe_succeeded',
    ]);
    expect(events[0]).toMatchObject({ providerId: P, modelId: M, at: 1_000, until: 8_000 });
  });

  it('a failed probe re-opens with a longer cooldown', () => {
    const { signals, events, report } = fresh();
    report('overloaded', 0);
    report('overloaded', 10);
    report('timeout', 20); // third consecutive failure
    const first = signals.breakerState(M, P, 21);
    expect(first).toMatchObject({ state: 'open', until: 20 + 5_000 });
    expect(signals.tryAcquire(M, P, 5_020)).toBe(true);
    report('connection', 5_100, { startedAt: 5_020 });
    const second = signals.breakerState(M, P, 5_101);
    expect(second.state).toBe('open');
    expect(second.until! - 5_100).toBe(10_000);
    expect(events.map((e) => e.reason)).toEqual(['consecutive_failures', 'cooldown_elapsed', 'probe_failed']);
  });

  it('a lost probe frees its slot after the lease', () => {
    const { signals, report } = fresh();
    report('rate_limited', 0, { retryAfterMs: 100 });
    expect(signals.tryAcquire(M, P, 100)).toBe(true);
    expect(signals.tryAcquire(M, P, 100 + 59_999)).toBe(false);
    expect(signals.tryAcquire(M, P, 100 + 60_000)).toBe(true);
  });

  it('reports from calls in flight before it opened neither close nor extend it', () => {
    const { signals, report } = fresh();
    report('rate_limited', 1_000, { retryAfterMs: 1_000 });
    report('success', 1_500, { startedAt: 900 }); // while open: ignored
    expect(signals.breakerState(M, P, 1_501).state).toBe('open');
    expect(signals.tryAcquire(M, P, 2_000)).toBe(true); // half-open probe taken
    report('success', 2_100, { startedAt: 950 }); // stale: started before it opened
    expect(signals.breakerState(M, P, 2_101)).toMatchObject({ state: 'half_open', probeInFlight: true });
  });

  it('opens on a windowed failure rate even without consecutive failures', () => {
    const { signals, report } = fresh();
    let t = 0;
    for (let i = 0; i < 10; i++) report(i % 2 ? 'overloaded' : 'success', (t += 100)); // 50 %, never 3 in a row
    expect(signals.breakerState(M, P, t).state).toBe('open');
  });

  it('model outcomes (refusal, invalid output) do not open it; auth opens it for minutes', () => {
    const { signals, report } = fresh();
    for (let i = 0; i < 10; i++) report(i % 2 ? 'refusal' : 'invalid_output', i);
    expect(signals.breakerState(M, P, 10).state).toBe('closed');
    report('auth', 20);
    expect(signals.breakerState(M, P, 21)).toMatchObject({ state: 'open', until: 20 + 300_000 });
  });

  it('a provider that asks for a day is held to the maximum honoured Retry-After', () => {
    const { signals, report } = fresh();
    report('rate_limited', 0, { retryAfterMs: 86_400_000 });
    expect(signals.breakerState(M, P, 1).until).toBe(600_000);
  });
});

describe('latency window per (provider, model)', () => {
  it('uses the reference speed and default TTFT until enough samples, then the measured p50', () => {
    const { signals } = fresh();
    const slot = signals.slot(P, M);
    const o = catalog.offering(P, M)!;
    const out = { ttftMs: 0, tokensPerSec: 0, source: 'reference' as 'reference' | 'measured' };
    const at = 1_000_000;
    predictLatency(slot.latency.stats(at), 5, o.defaultTtftMs, o.referenceOutputTokensPerSecond, out);
    expect(out).toEqual({ ttftMs: 250, tokensPerSec: 257, source: 'reference' });

    for (let i = 0; i < 4; i++) signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'success', ttftMs: 400, totalMs: 400 + 2_000, outputTokens: 200, at: at + i });
    predictLatency(slot.latency.stats(at + 10), 5, o.defaultTtftMs, o.referenceOutputTokensPerSecond, out);
    expect(out.source).toBe('reference');

    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'success', ttftMs: 400, totalMs: 2_400, outputTokens: 200, at: at + 5 });
    const stats = slot.latency.stats(at + 10);
    expect(stats.n).toBeGreaterThan(4.99);
    predictLatency(stats, 5, o.defaultTtftMs, o.referenceOutputTokensPerSecond, out);
    expect(out).toEqual({ ttftMs: 400, tokensPerSec: 100, source: 'measured' });
    expect(stats.totalP50).toBe(2_400);
  });

  it('old samples decay: after many half-lives the reference is back', () => {
    const { signals } = fresh();
    for (let i = 0; i < 8; i++) signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'success', ttftMs: 300, totalMs: 1_300, outputTokens: 100, at: i });
    const slot = signals.slot(P, M);
    expect(slot.latency.stats(10).n).toBeGreaterThan(7.9);
    expect(slot.latency.stats(10 * 60_000 * 3).n).toBeLessThan(1.01); // three half-lives: 8 → 1
  });

  it('p95 follows the slow tail; failed calls are not latency samples', () => {
    const { signals } = fresh();
    const ok = (ttftMs: number, totalMs: number, at: number) =>
      signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'success', ttftMs, totalMs, outputTokens: 100, at });
    for (let i = 0; i < 39; i++) ok(200, 1_000, i);
    ok(5_000, 9_000, 39); // 1 slow call in 40: under the 95th percentile
    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'timeout', totalMs: 30_000, at: 40 });
    const slot = signals.slot(P, M);
    expect(slot.latency.size).toBe(40);
    let s = slot.latency.stats(41);
    expect(s.ttftP50).toBe(200);
    expect(s.ttftP95).toBe(200);
    for (let i = 0; i < 3; i++) ok(5_000, 9_000, 42 + i); // 4 in 43: over it
    // New samples are batched: the cached stats stand for up to 250 ms (or 8 new samples).
    expect(slot.latency.stats(50).ttftP95).toBe(200);
    s = slot.latency.stats(41 + 250);
    expect(s.ttftP50).toBe(200);
    expect(s.ttftP95).toBe(5_000);
    expect(s.totalP95).toBe(9_000);
  });
});

describe('outcomes: finish probability per (task type, model)', () => {
  it('prior rises with the intelligence index and with matching capabilities', () => {
    const big = catalog.model('glm-5.2')!;
    const small = catalog.model('qwen3-vl-8b-instruct')!;
    expect(priorMean('reasoning', big)).toBeGreaterThan(priorMean('reasoning', small));
    expect(priorMean('chat', small)).toBeGreaterThan(priorMean('reasoning', small));
    const coder = catalog.model('qwen3-coder-30b-a3b-instruct')!;
    const peer = catalog.model('qwen3-next-80b-a3b-instruct')!; // same index, not code-tuned
    expect(priorMean('code', coder)).toBeGreaterThan(priorMean('code', peer));
  });

  it('success raises it, refusal and invalid output lower it, provider errors leave it alone', () => {
    const { signals, report } = fresh();
    const cell = () => signals.outcomes.cell('chat', catalog.model(M)!);
    const p0 = cell().mean;
    for (const o of ['rate_limited', 'overloaded', 'timeout', 'connection', 'auth', 'context_length', 'bad_request'] as const) report(o, 0);
    expect(cell().mean).toBe(p0);
    expect(cell().observations).toBe(0);
    report('success', 1);
    const p1 = cell().mean;
    expect(p1).toBeGreaterThan(p0);
    report('refusal', 2);
    report('invalid_output', 3);
    expect(cell().mean).toBeLessThan(p1);
    expect(cell().observations).toBe(3);
  });

  it('a failure on a request another model already failed counts half (fallbacks see the hard requests)', () => {
    const { signals } = fresh();
    const cell = signals.outcomes.cell('code', catalog.model(M)!);
    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'code', outcome: 'invalid_output', at: 0, afterModelFailure: true });
    expect(cell.failures).toBeCloseTo(0.5);
    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'code', outcome: 'success', at: 1, afterModelFailure: true });
    expect(cell.successes).toBeCloseTo(1);
    signals.recordAttempt({ modelId: M, providerId: P, taskType: 'code', outcome: 'refusal', at: 2 });
    expect(cell.failures).toBeCloseTo(0.5 * 0.995 * 0.995 + 1);
  });

  it('caller feedback false turns a finish into a failure; true confirms without double counting', () => {
    const { signals, report } = fresh();
    report('success', 0);
    const cell = signals.outcomes.cell('chat', catalog.model(M)!);
    const after = cell.mean;
    signals.recordFeedback({ modelId: M, taskType: 'chat', success: true });
    expect(cell.mean).toBe(after);
    signals.recordFeedback({ modelId: M, taskType: 'chat', success: false });
    expect(cell.successes).toBeCloseTo(0);
    expect(cell.failures).toBeCloseTo(1);
  });

  it('rejects a malformed report naming the field, recording nothing', () => {
    const { signals } = fresh();
    expect(() => signals.recordAttempt({ modelId: 'nope', providerId: P, taskType: 'chat', outcome: 'success', at: 0 })).toThrow(SignalsInputError);
    expect(() => signals.recordAttempt({ modelId: M, providerId: P, taskType: 'chat', outcome: 'exploded' as AttemptOutcome, at: 0 })).toThrow(/outcome/);
    expect(signals.exportState(0)).toMatchObject({ latency: {}, breakers: {}, outcomes: {} });
  });
});

describe('state export / import', () => {
  it('round-trips through JSON', () => {
    const { signals, report } = fresh();
    report('rate_limited', 1_000, { retryAfterMs: 60_000 });
    signals.recordAttempt({ modelId: 'glm-4.6', providerId: 'zai', taskType: 'code', outcome: 'success', ttftMs: 500, totalMs: 3_000, outputTokens: 300, at: 1_000 });
    signals.recordAttempt({ modelId: 'glm-4.6', providerId: 'zai', taskType: 'code', outcome: 'invalid_output', at: 1_100 });
    const json = JSON.parse(JSON.stringify(signals.exportState(2_000)));
    const other = new Signals(catalog);
    other.importState(json, { now: 2_000 });
    expect(other.breakerState(M, P, 2_000)).toMatchObject({ state: 'open', until: 61_000 });
    expect(other.outcomes.cell('code', catalog.model('glm-4.6')!).observations).toBe(2);
    expect(other.slot('zai', 'glm-4.6').latency.toJSON()).toEqual(signals.slot('zai', 'glm-4.6').latency.toJSON());
    expect(other.exportState(2_000)).toEqual(json);
  });

  it('merge adopts an outage seen by another instance but never closes ours', () => {
    const a = fresh();
    const b = fresh();
    a.report('rate_limited', 0, { retryAfterMs: 30_000 });
    b.signals.importState(a.signals.exportState(10), { mode: 'merge', now: 10 });
    expect(b.signals.breakerState(M, P, 11)).toMatchObject({ state: 'open', until: 30_000 });
    expect(b.events.at(-1)).toMatchObject({ to: 'open', reason: 'shared_state' });
    const c = fresh();
    c.signals.importState(c.signals.exportState(0), { mode: 'merge', now: 0 });
    a.signals.importState(c.signals.exportState(20), { mode: 'merge', now: 20 });
    expect(a.signals.breakerState(M, P, 21).state).toBe('open');
  });
});
