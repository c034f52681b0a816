import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { callCostMicros } from '../../src/catalog/prices.js';
import { resolvePolicy, PolicyError } from '../../src/routing/policy.js';
import { worstCaseInputTokens } from '../../src/routing/estimate.js';
import { Router, seededRandom } from '../../src/routing/router.js';
import { Signals } from '../../src/routing/signals.js';
import type { PlanOk, RouteRequest, RoutingDefaults } from '../../src/routing/types.js';

const NOW = 1_700_000_000_000;

function setup(defaults: RoutingDefaults = { exploration: 0 }, random?: () => number) {
  const catalog = new Catalog({ now: NOW });
  const signals = new Signals(catalog);
  const router = new Router({ catalog, signals, defaults, ...(random ? { random } : {}) });
  return { catalog, signals, router };
}

const chat: RouteRequest = { messages: [{ role: 'user', content: 'hello, what can you do?' }] };
const vision: RouteRequest = {
  messages: [{ role: 'user', content: [{ type: 'text', text: 'describe' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
};
const code: RouteRequest = { messages: [{ role: 'user', content: 'Write a TypeScript function that parses ISO dates' }] };

function ok(plan: ReturnType<Router['plan']>): PlanOk {
  if (!plan.ok) throw new Error(plan.message);
  return plan;
}

describe('plan: cheapest candidate that clears the bar', () => {
  it('scores every offering and walks the eligible ones cheapest first', () => {
    const { catalog, router } = setup();
    const plan = ok(router.plan(chat, { now: NOW }));
    expect(plan.candidates).toHaveLength(catalog.offerings().length);
    expect(plan.attempts.length).toBeGreaterThan(10);
    for (const c of plan.attempts) {
      expect(c.eligible).toBe(true);
      expect(c.refusals).toEqual([]);
      expect(c.finishProbability).toBeGreaterThanOrEqual(plan.caps.minFinishProbability);
    }
    // The first is the cheapest eligible (within the 2 % tie band).
    const minCost = Math.min(...plan.attempts.map((c) => c.expectedCostMicros));
    expect(plan.attempts[0]!.expectedCostMicros).toBeLessThanOrEqual(Math.ceil(minCost * 1.02));
    expect(plan.attempts.map((c) => c.rank)).toEqual(plan.attempts.map((_, i) => i + 1));
    // The first fallback is on another provider.
    expect(plan.attempts[1]!.providerId).not.toBe(plan.attempts[0]!.providerId);
  });

  it('costs come from the estimated input (with a worst-case margin for the hold), expected output and the full output budget at the current price', () => {
    const { router } = setup();
    const req: RouteRequest = { messages: [{ role: 'user', content: 'x'.repeat(4_000) }], maxOutputTokens: 1_000 };
    const plan = ok(router.plan(req, { now: NOW }));
    expect(plan.estimate.inputTokens).toBe(1_000 + 4); // chars/4 + message framing
    const c = plan.candidates.find((x) => x.providerId === 'groq' && x.modelId === 'gpt-oss-120b')!;
    expect(c.price).toMatchObject({ inputPerMTokMicros: 150_000, outputPerMTokMicros: 600_000, source: 'reference', readAt: NOW });
    expect(c.maxOutputTokens).toBe(1_000);
    // Worst case: the input estimate is typical, not a bound, so it is taken x1.25 + 24 template tokens.
    expect(worstCaseInputTokens(1_004)).toBe(1_279);
    expect(c.worstCaseCostMicros).toBe(callCostMicros(1_279, 1_000, c.price)); // 192 + 600
    expect(c.worstCaseCostMicros).toBe(792);
    expect(c.expectedCostMicros).toBe(callCostMicros(1_004, 400, c.price));
    expect(c.predictedLatencyMs).toBe(Math.round(250 + (400 * 1000) / 257));
    expect(c.latencySource).toBe('reference');
  });

  it('same price: the faster host wins the tie', () => {
    const { router } = setup();
    const plan = ok(router.plan(chat, { now: NOW, agentPolicy: { pin: { model: 'gpt-oss-120b' } } }));
    expect(plan.attempts.map((c) => c.providerId)).toEqual(['groq', 'together']);
  });

  it('a live price drop moves the pick', () => {
    const { catalog, router } = setup();
    const before = ok(router.plan(code, { now: NOW })).attempts[0]!;
    const target = ok(router.plan(code, { now: NOW })).attempts.find((c) => c.modelId !== before.modelId && c.providerId !== before.providerId)!;
    catalog.setPrice(target.providerId, target.modelId, { inputPerMTokMicros: 1_000, outputPerMTokMicros: 2_000, source: 'models-endpoint', readAt: NOW });
    const after = ok(router.plan(code, { now: NOW })).attempts[0]!;
    expect(`${after.providerId}/${after.modelId}`).toBe(`${target.providerId}/${target.modelId}`);
    expect(after.price.source).toBe('models-endpoint');
  });
});

describe('learning from outcomes moves the pick', () => {
  it('after model A keeps failing code tasks, the router picks another; chat is unaffected', () => {
    const { signals, router } = setup();
    const first = ok(router.plan(code, { now: NOW })).attempts[0]!;
    const chatFirst = ok(router.plan(chat, { now: NOW })).attempts[0]!;
    let t = NOW;
    for (let i = 0; i < 8; i++) {
      signals.recordAttempt({ modelId: first.modelId, providerId: first.providerId, taskType: 'code', outcome: 'invalid_output', at: (t += 1000) });
    }
    const plan = ok(router.plan(code, { now: t }));
    expect(plan.attempts[0]!.modelId).not.toBe(first.modelId);
    const a = plan.candidates.find((c) => c.modelId === first.modelId && c.providerId === first.providerId)!;
    expect(a.eligible).toBe(false);
    expect(a.refusals).toEqual([expect.objectContaining({ kind: 'below_bar', bar: 0.6 })]);
    expect(a.finishProbability).toBeLessThan(0.6);
    expect(ok(router.plan(chat, { now: t })).attempts[0]!.modelId).toBe(chatFirst.modelId);
  });

  it('provider errors do not lower the finish probability: they open the breaker instead', () => {
    const { signals, router } = setup();
    const first = ok(router.plan(chat, { now: NOW })).attempts[0]!;
    for (let i = 0; i < 3; i++) signals.recordAttempt({ modelId: first.modelId, providerId: first.providerId, taskType: 'chat', outcome: 'overloaded', at: NOW + i });
    const plan = ok(router.plan(chat, { now: NOW + 10 }));
    const a = plan.candidates.find((c) => c.modelId === first.modelId && c.providerId === first.providerId)!;
    expect(a.finishProbability).toBe(first.finishProbability);
    expect(a.breaker).toBe('open');
    expect(a.refusals).toEqual([expect.objectContaining({ kind: 'breaker_open', until: NOW + 2 + 5_000 })]);
    expect(a.refusals[0]!.message).toMatch(/breaker open until 20\d\d-/);
    expect(plan.attempts[0]).not.toBe(a);
    // After the cooldown the candidate is back (half-open: eligible, its probe slot free).
    const later = ok(router.plan(chat, { now: NOW + 6_000 }));
    expect(later.attempts[0]!.modelId).toBe(first.modelId);
    expect(later.attempts[0]!.breaker).toBe('half_open');
  });
});

describe('caps, pins and refusal reasons', () => {
  it('a cost cap refuses candidates whose worst case is over it, saying by how much', () => {
    const { router } = setup();
    const plan = ok(router.plan({ ...chat, maxOutputTokens: 2_000, caps: { costCeilingMicros: 1_000 } }, { now: NOW }));
    for (const c of plan.candidates) {
      const r = c.refusals.find((x) => x.kind === 'over_cost_cap');
      if (c.worstCaseCostMicros > 1_000) {
        expect(r).toMatchObject({ kind: 'over_cost_cap', capMicros: 1_000, worstCaseCostMicros: c.worstCaseCostMicros, byMicros: c.worstCaseCostMicros - 1_000 });
        expect(r!.message).toMatch(/over the cost cap \$0\.001000 by \$0\.\d{6}/);
      } else expect(r).toBeUndefined();
    }
    for (const c of plan.attempts) expect(c.worstCaseCostMicros).toBeLessThanOrEqual(1_000);
    expect(plan.caps.sources.costCeilingMicros).toBe('call');
  });

  it('a latency target refuses slow candidates with the predicted and target times', () => {
    const { router } = setup();
    const plan = ok(router.plan({ ...chat, caps: { latencyTargetMs: 2_000 } }, { now: NOW }));
    for (const c of plan.attempts) expect(c.predictedLatencyMs).toBeLessThanOrEqual(2_000);
    const slow = plan.candidates.find((c) => c.refusals.some((r) => r.kind === 'over_latency_target'))!;
    expect(slow.refusals.find((r) => r.kind === 'over_latency_target')).toMatchObject({
      predictedMs: slow.predictedLatencyMs,
      targetMs: 2_000,
      byMs: slow.predictedLatencyMs - 2_000,
    });
  });

  it('a pin keeps only the pinned model; a pin that cannot do the task is NoEligibleModel, never a downgrade', () => {
    const { router } = setup();
    const plan = ok(router.plan({ ...chat, pin: { model: 'glm-4.6' } }, { now: NOW }));
    expect(plan.attempts.map((c) => c.modelId)).toEqual(['glm-4.6']);
    const other = plan.candidates.find((c) => c.modelId === 'glm-5.2')!;
    expect(other.refusals).toEqual([{ kind: 'pinned_out', pin: { model: 'glm-4.6' }, message: 'pinned to model glm-4.6' }]);

    const bad = router.plan({ ...vision, pin: { model: 'glm-4.6' } }, { now: NOW });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    const pinned = bad.candidates.find((c) => c.modelId === 'glm-4.6')!;
    expect(pinned.refusals.map((r) => r.kind)).toEqual(['lacks_capability']);
    expect(pinned.refusals[0]!.message).toBe('glm-4.6 on zai lacks vision');
  });

  it('pins on the provider; agent policy per task type applies below the call', () => {
    const { router } = setup();
    const plan = ok(
      router.plan(code, {
        now: NOW,
        agentPolicy: { pin: { provider: 'alibaba' }, byTaskType: { code: { pin: { provider: 'zai' }, caps: { minFinishProbability: 0.8 } } } },
      }),
    );
    expect(new Set(plan.attempts.map((c) => c.providerId))).toEqual(new Set(['zai']));
    expect(plan.caps).toMatchObject({ minFinishProbability: 0.8, sources: { pin: 'agent_task', minFinishProbability: 'agent_task' } });
    for (const c of plan.attempts) expect(c.finishProbability).toBeGreaterThanOrEqual(0.8);
  });

  it('vision requests only go to vision models; context windows are respected', () => {
    const { router } = setup();
    const plan = ok(router.plan(vision, { now: NOW }));
    for (const c of plan.attempts) expect(c.modelId).toMatch(/vl|4\.6v|4\.5v|omni/);
    const huge = ok(router.plan({ messages: [{ role: 'user', content: 'x'.repeat(4 * 300_000) }] }, { now: NOW }));
    for (const c of huge.attempts) expect(c.modelId).toMatch(/minimax-m3|qwen3\.6-plus|qwen3\.7-plus/);
    const small = huge.candidates.find((c) => c.modelId === 'glm-5.2')!;
    expect(small.refusals[0]).toMatchObject({ kind: 'context_too_small', contextWindow: 200 * 1024 });
  });

  it('exclusions (e.g. after a context_length failure) refuse that offering for this call', () => {
    const { router } = setup();
    const first = ok(router.plan(chat, { now: NOW })).attempts[0]!;
    const plan = ok(router.plan(chat, { now: NOW, exclude: [`${first.providerId}/${first.modelId}`] }));
    expect(plan.attempts.some((c) => c.providerId === first.providerId && c.modelId === first.modelId)).toBe(false);
  });
});

describe('NoEligibleModel', () => {
  it('lists every candidate with every reason and a summary', () => {
    const { signals, router } = setup();
    signals.recordAttempt({ modelId: 'qwen3-vl-8b-instruct', providerId: 'alibaba', taskType: 'vision', outcome: 'rate_limited', retryAfterMs: 30_000, at: NOW });
    const plan = router.plan({ ...vision, caps: { costCeilingMicros: 500, latencyTargetMs: 1_500 } }, { now: NOW + 1 });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    expect(plan.kind).toBe('NoEligibleModel');
    expect(plan.taskType).toBe('vision');
    expect(plan.candidates).toHaveLength(50);
    for (const c of plan.candidates) {
      expect(c.eligible).toBe(false);
      expect(c.refusals.length).toBeGreaterThan(0);
      for (const r of c.refusals) expect(r.message.length).toBeGreaterThan(5);
    }
    const vl8 = plan.candidates.find((c) => c.modelId === 'qwen3-vl-8b-instruct')!;
    expect(vl8.refusals.map((r) => r.kind)).toEqual(expect.arrayContaining(['breaker_open', 'over_latency_target']));
    expect(vl8.refusals.find((r) => r.kind === 'breaker_open')).toMatchObject({ until: NOW + 30_000 });
    const glm = plan.candidates.find((c) => c.modelId === 'glm-5.2')!;
    expect(glm.refusals.map((r) => r.kind)).toEqual(['lacks_capability', 'over_cost_cap', 'over_latency_target']);
    expect(plan.message).toMatch(/^No eligible model for vision among 50 candidates \(cost cap \$0\.000500, latency target 1500 ms, bar 0\.6\): /);
    expect(plan.message).toMatch(/43 lack vision/);
    expect(JSON.parse(JSON.stringify(plan)).candidates[0].refusals[0].message).toBe(plan.candidates[0]!.refusals[0]!.message);
  });
});

describe('exploration', () => {
  it('is bounded, seeded, logged on the candidate, and only picks eligible candidates that clear the bar', () => {
    const run = (seed: number) => {
      const { signals, router } = setup({ exploration: 0.1 }, seededRandom(seed));
      // Give the cheapest models some history so that less-sampled ones exist.
      const base = ok(router.plan(chat, { now: NOW }));
      for (const c of base.attempts.slice(0, 3)) {
        for (let i = 0; i < 5; i++) signals.recordAttempt({ modelId: c.modelId, providerId: c.providerId, taskType: 'chat', outcome: 'success', at: NOW });
      }
      const picks: string[] = [];
      let explored = 0;
      for (let i = 0; i < 2_000; i++) {
        const plan = ok(router.plan(chat, { now: NOW }));
        if (plan.explored) {
          explored++;
          const c = plan.attempts[0]!;
          expect(c.explored).toBe(true);
          expect(c.eligible).toBe(true);
          expect(c.finishProbability).toBeGreaterThanOrEqual(0.6);
          expect(plan.attempts.filter((x) => x.explored)).toHaveLength(1);
        } else expect(plan.attempts.every((x) => !x.explored)).toBe(true);
        picks.push(plan.attempts[0]!.modelId);
      }
      return { explored, picks };
    };
    const a = run(7);
    const b = run(7);
    const c = run(8);
    expect(a).toEqual(b);
    expect(a.picks).not.toEqual(c.picks);
    expect(a.explored / 2_000).toBeGreaterThan(0.07);
    expect(a.explored / 2_000).toBeLessThan(0.13);
  });

  it('never exceeds the hard bound, and zero means never', () => {
    expect(setup({ exploration: 0.9 }).router.exploration).toBe(0.2);
    const { router } = setup({ exploration: 0 }, () => 0);
    for (let i = 0; i < 50; i++) expect(router.plan(chat, { now: NOW }).ok && (router.plan(chat, { now: NOW }) as PlanOk).explored).toBe(false);
  });
});

describe('recheck before each attempt', () => {
  it('counts the money already spent against the cap and sees a breaker that opened meanwhile', () => {
    const { signals, router } = setup();
    const plan = ok(router.plan({ ...chat, maxOutputTokens: 1_000, caps: { costCeilingMicros: 5_000 } }, { now: NOW }));
    const c = plan.attempts[0]!;
    expect(router.recheck(c, plan.caps, 0, NOW)).toBeNull();
    const r = router.recheck(c, plan.caps, 5_000 - c.worstCaseCostMicros + 1, NOW);
    expect(r).toMatchObject({ kind: 'over_cost_cap', byMicros: 1, capMicros: 5_000 });
    signals.recordAttempt({ modelId: c.modelId, providerId: c.providerId, taskType: 'chat', outcome: 'rate_limited', retryAfterMs: 1_000, at: NOW });
    expect(router.recheck(c, plan.caps, 0, NOW + 1)).toMatchObject({ kind: 'breaker_open', until: NOW + 1_000 });
  });
});

describe('policy resolution: call > agent task type > agent > default task type > default', () => {
  it('resolves each field from the nearest layer and says where it came from', () => {
    const r = resolvePolicy(
      { caps: { latencyTargetMs: 900 } },
      'code',
      { caps: { costCeilingMicros: 50_000, latencyTargetMs: 5_000 }, byTaskType: { code: { caps: { costCeilingMicros: 20_000 } } } },
      { bar: { code: 0.7 }, defaultBar: 0.5, caps: { costCeilingMicros: 1_000_000 } },
    );
    expect(r).toEqual({
      costCeilingMicros: 20_000,
      latencyTargetMs: 900,
      minFinishProbability: 0.7,
      pin: null,
      sources: { costCeilingMicros: 'agent_task', latencyTargetMs: 'call', minFinishProbability: 'default_task', pin: 'none' },
    });
    expect(resolvePolicy({}, 'chat', undefined, { bar: { code: 0.7 }, defaultBar: 0.5 })).toMatchObject({ minFinishProbability: 0.5, costCeilingMicros: null, sources: { minFinishProbability: 'default' } });
    expect(resolvePolicy({}, 'chat', undefined)).toMatchObject({ minFinishProbability: 0.6 });
  });

  it('rejects out-of-range caps naming the field', () => {
    expect(() => resolvePolicy({ caps: { minFinishProbability: 1.5 } }, 'chat', undefined)).toThrow(PolicyError);
    expect(() => resolvePolicy({ caps: { costCeilingMicros: 1.5 } }, 'chat', undefined)).toThrow(/caps\.costCeilingMicros/);
  });
});
