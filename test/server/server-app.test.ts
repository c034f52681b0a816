// The composition root's choices: real providers switch on by config + their key env var (then the fleet
// is off unless asked for), live signals are shared through the store between instances, and the demo
// agent can be turned off.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simModelsFromOfferings, startSimFleet, type SimFleet } from '../../src/providers/sim-fleet.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { startTestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// A loopback OpenAI-compatible upstream standing in for a real host (the only fake: an LLM provider).
let upstream: SimFleet;
beforeAll(async () => {
  const offerings = new Catalog().offerings().filter((o) => o.providerId === 'zai');
  upstream = await startSimFleet({ models: simModelsFromOfferings(offerings), timeScale: 50, chaos: false });
});
afterAll(async () => {
  await upstream?.close();
});

function realProviderConfig(apiKeyEnv: string) {
  return {
    providers: [
      {
        id: 'zai',
        baseUrl: upstream.baseUrl('zai'),
        apiKeyEnv,
        models: { 'glm-4.6': { upstream: 'glm-4.6', inputPerMTokMicros: 600_000, outputPerMTokMicros: 2_200_000 } },
      },
    ],
    simulatedFleet: { enabled: 'auto' },
  };
}

describe('providers', () => {
  it('switches a configured provider on when its key env var is set, and the fleet off', async () => {
    const s = await startTestServer({ config: realProviderConfig('ZAI_TEST_KEY'), env: { ZAI_TEST_KEY: 'sk-test-not-a-secret' } });
    try {
      expect(s.app.fleet).toBeNull();
      const providers = await s.gql<{ providers: Json[] }>('{ providers { id simulated keyConfigured models } }');
      expect(providers.body.data?.providers).toEqual([{ id: 'zai', simulated: false, keyConfigured: true, models: ['glm-4.6'] }]);
      const { apiKey } = await s.createAgent('real-user', 5_000_000);
      const before = upstream.requests.length;
      const r = await s.gql<{ route: Json }>(
        'mutation($i: RouteInput!) { route(input: $i) { __typename ... on RouteSuccess { model provider simulated } } }',
        { i: { messages: [{ role: 'USER', content: 'hello real' }], maxOutputTokens: 16 } },
        { key: apiKey },
      );
      // The stand-in upstream labels its own answers simulated (x-ainfera-simulated); that label is kept.
      expect(r.body.data?.route).toEqual({ __typename: 'RouteSuccess', model: 'glm-4.6', provider: 'zai', simulated: true });
      expect(upstream.requests.length).toBe(before + 1);
      const health = (await (await fetch(`${s.url}/health`)).json()) as Json;
      expect(health.simulated).toBe(false);
      // demo.enabled auto: no funded demo key on a deployment that serves real providers.
      expect(s.app.demo).toBeNull();
      expect(await s.app.store.accounts.agentByHandle('demo')).toBeNull();
    } finally {
      await s.close();
    }
  });

  it('skips a provider whose key env var is unset; with none left, the simulated fleet runs (auto)', async () => {
    const s = await startTestServer({ config: realProviderConfig('ZAI_MISSING_KEY') });
    try {
      expect(s.app.fleet).not.toBeNull();
      const providers = await s.gql<{ providers: Json[] }>('{ providers { id simulated } }');
      expect(providers.body.data!.providers.length).toBeGreaterThan(1);
      for (const p of providers.body.data!.providers) expect(p.simulated).toBe(true);
      const models = await s.gql<{ models: Json[] }>('{ models { id simulated } }');
      for (const m of models.body.data!.models) expect(m.simulated).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('shared signals', () => {
  it('a second instance on the same store starts with the first one\'s breaker and outcome state', async () => {
    const a = await startTestServer();
    let b: Awaited<ReturnType<typeof startTestServer>> | null = null;
    try {
      const now = Date.now();
      a.app.signals.recordAttempt({ modelId: 'glm-4.6', providerId: 'zai', taskType: 'chat', outcome: 'rate_limited', retryAfterMs: 120_000, at: now });
      for (let i = 0; i < 20; i++) a.app.signals.recordAttempt({ modelId: 'glm-4.5-air', providerId: 'zai', taskType: 'code', outcome: 'refusal', at: now });
      await a.app.drain();
      b = await startTestServer({ dataDir: a.dataDir });
      // The sync's first merge runs at start; give it a moment.
      let open: Json[] = [];
      for (let i = 0; i < 50 && open.length === 0; i++) {
        const r = await b.gql<{ models: Json[] }>('{ models(filter: { health: OPEN }) { id offerings { provider breaker { state until } } } }');
        open = r.body.data!.models;
        if (open.length === 0) await new Promise((res) => setTimeout(res, 50));
      }
      expect(open.map((m) => m.id)).toContain('glm-4.6');
      const cell = b.app.signals.outcomes.peek('code', 'glm-4.5-air');
      expect(cell?.observations).toBeGreaterThanOrEqual(20);
      expect(cell!.mean).toBeLessThan(cell!.priorMean);
    } finally {
      await b?.close();
      await a.close();
    }
  });
});

describe('demo agent', () => {
  it('is not created when config.demo.enabled is false', async () => {
    const s = await startTestServer({ config: { demo: { enabled: false } } });
    try {
      expect(s.app.demo).toBeNull();
      expect(existsSync(join(s.dataDir, 'demo-agent.key'))).toBe(false);
      expect(await s.app.store.accounts.agentByHandle('demo')).toBeNull();
    } finally {
      await s.close();
    }
  });
});
