// What the executor tells the routing signals about each attempt: when it was sent (so the breaker can
// ignore calls in flight when it opened) and whether an earlier attempt of the same call was a model
// failure (refusal, invalid output), which makes a later failure weigh less.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimFault } from '../../src/providers/sim-fleet.js';
import type { AttemptReport } from '../../src/routing/types.js';
import { ask, harness, injectFault, startWorld, type World } from './execute-helpers.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterEach(() => w.fleet.clearFaults());
afterAll(async () => {
  await w.close();
});

const fault = (key: string, f: SimFault): void => injectFault(w, key, f);

/** A harness whose signals record every report (and still do their real work). */
function recording() {
  const h = harness(w);
  const reports: AttemptReport[] = [];
  const real = h.signals.recordAttempt.bind(h.signals);
  h.signals.recordAttempt = (r: AttemptReport) => {
    reports.push({ ...r });
    real(r);
  };
  return { h, reports };
}

describe('executor → signals', () => {
  it('reports when each attempt was sent, and marks attempts after a refusal', async () => {
    const { h, reports } = recording();
    fault('together/gpt-oss-120b', { kind: 'content_filter' });
    fault('zai/glm-5', { kind: 'status', status: 503 });
    const sentAt = w.clock.t;
    const r = await h.run(['together/gpt-oss-120b', 'zai/glm-5', 'alibaba/qwen3.6-plus']);
    expect(r.ok).toBe(true);
    expect(reports.map((x) => [`${x.providerId}/${x.modelId}`, x.outcome, x.afterModelFailure ?? false])).toEqual([
      ['together/gpt-oss-120b', 'refusal', false],
      ['zai/glm-5', 'overloaded', true],
      ['alibaba/qwen3.6-plus', 'success', true],
    ]);
    for (const x of reports) {
      expect(x.startedAt).toBeTypeOf('number');
      expect(x.startedAt!).toBeGreaterThanOrEqual(sentAt);
      expect(x.startedAt!).toBeLessThanOrEqual(x.at);
    }
  });

  it('marks attempts after invalid output, but not after a provider error', async () => {
    const { h, reports } = recording();
    fault('groq/gpt-oss-20b', { kind: 'status', status: 503 });
    const r = await h.run(['groq/gpt-oss-20b', 'zai/glm-5']);
    expect(r.ok).toBe(true);
    expect(reports.map((x) => x.afterModelFailure ?? false)).toEqual([false, false]);

    const second = recording();
    fault('zai/glm-5', { kind: 'invalid_output' });
    const r2 = await second.h.run(['zai/glm-5', 'alibaba/qwen3.6-plus'], { request: { ...ask, responseFormat: { type: 'json_object' } } });
    expect(r2.ok).toBe(true);
    expect(second.reports.map((x) => [x.outcome, x.afterModelFailure ?? false])).toEqual([
      ['invalid_output', false],
      ['success', true],
    ]);
  });
});
