// The simulated fleet as a provider: per-provider prefixes, OpenRouter-format /models the catalog can
// read, labels on every surface, seeded chaos (429/5xx, scripted outages, price changes), clean shutdown.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { OpenAICompatibleAdapter } from '../../src/providers/openai-compatible.js';
import { ProviderPools } from '../../src/providers/pool.js';
import { SIMULATED_HEADER, simModelsFromOfferings, startSimFleet, type SimFleet } from '../../src/providers/sim-fleet.js';

const MODELS = [
  { providerId: 'novita', upstreamModel: 'zai-org/glm-5.1', outputTokensPerSecond: 67, contextWindow: 200_000, inputPerMTokMicros: 900_000, outputPerMTokMicros: 3_000_000 },
  { providerId: 'groq', upstreamModel: 'openai/gpt-oss-20b', outputTokensPerSecond: 900, contextWindow: 131_072, inputPerMTokMicros: 75_000, outputPerMTokMicros: 300_000 },
];
const ask = { messages: [{ role: 'user' as const, content: 'hello' }] };
const T = { connectMs: 1000, firstTokenMs: 1000, stallMs: 500, totalMs: 5000 };

const open: SimFleet[] = [];
const pools = new ProviderPools();
async function fleet(opts: Partial<Parameters<typeof startSimFleet>[0]> = {}): Promise<SimFleet> {
  const f = await startSimFleet({ models: MODELS, timeScale: 50, chaos: false, ...opts });
  open.push(f);
  return f;
}
afterEach(async () => {
  await pools.close();
  await Promise.all(open.splice(0).map((f) => f.close()));
});

describe('simulated fleet', () => {
  it('serves each provider under its own prefix and labels everything simulated', async () => {
    const f = await fleet();
    const res = await fetch(`${f.baseUrl('novita')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'zai-org/glm-5.1', ...ask }),
    });
    expect(res.headers.get(SIMULATED_HEADER)).toBe('1');
    const body = (await res.json()) as { system_fingerprint: string; model: string; usage: { completion_tokens: number } };
    expect(body.system_fingerprint).toBe('ainfera-simulated');
    expect(body.model).toBe('zai-org/glm-5.1');
    // A model of another provider is not served under this prefix; unknown providers 404.
    const wrong = await fetch(`${f.baseUrl('novita')}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'openai/gpt-oss-20b', ...ask }) });
    expect(wrong.status).toBe(404);
    expect((await fetch(`${f.url}/nope/v1/models`)).status).toBe(404);
    expect(f.requests.every((r) => !('content' in r))).toBe(true);
  });

  it('lists models in OpenRouter format that the catalog reads exactly, and reflects price changes', async () => {
    const catalog = new Catalog();
    const offerings = catalog.offerings().filter((o) => o.providerId === 'novita');
    const f = await fleet({ models: simModelsFromOfferings(offerings) });
    const list = (await (await fetch(`${f.baseUrl('novita')}/models`)).json()) as { data: { id: string; pricing: { prompt: string; completion: string }; context_length: number; name: string }[] };
    expect(list.data).toHaveLength(offerings.length);
    expect(list.data[0]!.name).toMatch(/simulated/);
    const report = catalog.applyModelsList('novita', list, Date.now(), `${f.baseUrl('novita')}/models`);
    expect(report.updated).toBe(offerings.length);
    expect(report.changed).toEqual([]);
    const o = offerings[0]!;
    f.setPrice('novita', o.upstreamModel, { inputPerMTokMicros: 123_456, outputPerMTokMicros: 654_321 });
    const list2 = await (await fetch(`${f.baseUrl('novita')}/models`)).json();
    const report2 = catalog.applyModelsList('novita', list2, Date.now());
    expect(report2.changed).toHaveLength(1);
    expect(catalog.offering('novita', o.modelId)!.price).toMatchObject({ inputPerMTokMicros: 123_456, outputPerMTokMicros: 654_321, source: 'models-endpoint' });
  });

  it('chaos: seeded 429s carry Retry-After, 5xx happen, and the run is reproducible from the seed', async () => {
    const run = async (seed: number): Promise<(string | null)[]> => {
      const f = await fleet({ seed, chaos: { rate429: 0.3, rate5xx: 0.2, outageEveryMs: 0, priceChangeEveryMs: 0 } });
      const a = new OpenAICompatibleAdapter({ providerId: 'groq', baseUrl: f.baseUrl('groq'), pools });
      const classes: (string | null)[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await a.call({ upstreamModel: 'openai/gpt-oss-20b', request: ask, timeouts: T });
        classes.push(r.ok ? null : r.error.class);
        if (!r.ok && r.error.class === 'rate_limited') expect(r.error.retryAfterMs).toBe(1000);
      }
      return classes;
    };
    const a = await run(42);
    expect(a).toContain('rate_limited');
    expect(a).toContain('overloaded');
    expect(a).toContain(null);
    expect(await run(42)).toEqual(a);
  });

  it('chaos: scripted outages and price changes happen on their own (time-scaled)', async () => {
    const f = await fleet({ timeScale: 1000, seed: 3, chaos: { rate429: 0, rate5xx: 0, outageEveryMs: 20_000, outageForMs: 10_000_000, priceChangeEveryMs: 20_000 } });
    const before = JSON.stringify(f.models());
    await vi.waitFor(() => expect(JSON.stringify(f.models())).not.toBe(before), { timeout: 3000, interval: 20 });
    const a = new OpenAICompatibleAdapter({ providerId: 'groq', baseUrl: f.baseUrl('groq'), pools });
    const b = new OpenAICompatibleAdapter({ providerId: 'novita', baseUrl: f.baseUrl('novita'), pools });
    await vi.waitFor(
      async () => {
        const r1 = await a.call({ upstreamModel: 'openai/gpt-oss-20b', request: ask, timeouts: T });
        const r2 = await b.call({ upstreamModel: 'zai-org/glm-5.1', request: ask, timeouts: T });
        expect([r1, r2].some((r) => !r.ok && r.error.status === 503)).toBe(true);
      },
      { timeout: 3000, interval: 20 },
    );
    expect(f.requests.some((r) => r.fault === 'outage')).toBe(true);
  });

  it('rejects bad specs and unknown fault targets with the field named', async () => {
    await expect(startSimFleet({ models: [{ ...MODELS[0]!, inputPerMTokMicros: 0.5 }], chaos: false })).rejects.toThrow(/integer micro-USD/);
    const f = await fleet();
    expect(() => f.inject({ providerId: 'nobody', fault: { kind: 'never_answer' } })).toThrow(/providerId/);
    expect(() => f.inject({ providerId: 'groq', model: 'nope', fault: { kind: 'never_answer' } })).toThrow(/model/);
  });

  it('closes promptly with connections held open by never-answering and stalled requests', async () => {
    const f = await startSimFleet({ models: MODELS, timeScale: 50, chaos: false });
    f.inject({ providerId: 'groq', fault: { kind: 'never_answer' } });
    const a = new OpenAICompatibleAdapter({ providerId: 'groq', baseUrl: f.baseUrl('groq'), pools });
    const pending = a.call({ upstreamModel: 'openai/gpt-oss-20b', request: ask, timeouts: { ...T, firstTokenMs: 20_000, totalMs: 20_000 } });
    await vi.waitFor(() => expect(f.count()).toBe(1));
    await f.close();
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(r.ok ? null : r.error.class).toBe('connection_reset');
  });
});
