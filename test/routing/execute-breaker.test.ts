// A primary that is down for a minute, then recovers: the real breaker (signals) opens, the fallback serves
// while it is open without the primary being called, the half-open probe finds it still down, and after
// recovery the probe succeeds and traffic returns to the primary. Fake clock shared by the fleet's
// outage, the breaker and the executor; the HTTP is real.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, startWorld, type World } from './execute-helpers.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w.close();
});

describe('executor + breaker: outage and recovery', () => {
  it('serves from the fallback while the primary is down, and returns to it after recovery via the half-open probe', async () => {
    const h = harness(w, { signals: { breaker: { consecutiveFailures: 3, baseCooldownMs: 5_000, maxCooldownMs: 60_000 } } });
    const transitions: string[] = [];
    h.signals.onBreakerTransition((t) => {
      if (t.providerId === 'groq') transitions.push(`${t.from}->${t.to}:${t.reason}`);
    });
    const primaryHits = (): number => w.fleet.count({ providerId: 'groq', model: 'openai/gpt-oss-20b' });
    w.fleet.inject({ providerId: 'groq', model: 'openai/gpt-oss-20b', fault: { kind: 'down', forMs: 60_000 } });
    const keys = ['groq/gpt-oss-20b', 'zai/glm-5'];
    const who: string[] = [];
    const call = async (): Promise<void> => {
      const r = await h.run(keys);
      expect(r.ok).toBe(true);
      who.push(r.providerId!);
    };

    // Three calls: the primary answers 503 each time, the fallback serves; the breaker opens on the third.
    for (let i = 0; i < 3; i++) {
      await call();
      w.clock.t += 1_000;
    }
    expect(primaryHits()).toBe(3);
    expect(h.signals.breakerState('gpt-oss-20b', 'groq', w.clock.t).state).toBe('open');

    // While open: the primary is not called at all.
    await call();
    expect(primaryHits()).toBe(3);
    const lastFallback = h.events.filter((e) => e.kind === 'fallback').at(-1)!;
    expect(lastFallback.fields).toMatchObject({ fromProvider: 'groq', reason: 'breaker_open' });

    // Cooldown elapsed, still inside the outage: one probe, which fails, and the breaker re-opens.
    w.clock.t += 6_000;
    await call();
    expect(primaryHits()).toBe(4);
    expect(h.signals.breakerState('gpt-oss-20b', 'groq', w.clock.t).state).toBe('open');

    // The outage ends (60 s after it began); after the longer cooldown the probe succeeds and the primary is back.
    w.clock.t += 60_000;
    await call();
    await call();
    expect(primaryHits()).toBe(6);
    expect(who).toEqual(['zai', 'zai', 'zai', 'zai', 'zai', 'groq', 'groq']);
    expect(h.signals.breakerState('gpt-oss-20b', 'groq', w.clock.t).state).toBe('closed');
    expect(transitions).toEqual([
      'closed->open:consecutive_failures',
      'open->half_open:cooldown_elapsed',
      'half_open->open:probe_failed',
      'open->half_open:cooldown_elapsed',
      'half_open->closed:probe_succeeded',
    ]);
  });
});
