import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog, CatalogError, defaultProviderConfigs, referenceModels } from '../../src/catalog/catalog.js';
import { startPriceSync, syncProviderPrices } from '../../src/catalog/price-sync.js';

describe('catalog seeded from the reference listings', () => {
  const catalog = new Catalog({ now: 1_000 });

  it('maps every one of the 41 listings to an offering, keeping the source note', () => {
    const ref = referenceModels();
    expect(ref.models).toHaveLength(41);
    expect(ref.source).toMatch(/Reference figures/);
    // Two listings are the same model on two hosts (Qwen3.5 397B on DeepInfra and Together).
    expect(catalog.models()).toHaveLength(40);
    const q = catalog.model('qwen3.5-397b-a17b')!;
    expect(catalog.offering('deepinfra', q.id)).toBeDefined();
    expect(catalog.offering('together', q.id)).toBeDefined();
    for (const listing of ref.models) {
      const m = catalog.models().find((x) => x.name === listing.name.replace(/\s*\((?:Novita|Together|DeepInfra|Groq)\)$/, ''));
      expect(m, listing.name).toBeDefined();
      expect(m!.intelligenceIndex).toBe(listing.intelligenceIndex);
    }
  });

  it('serves a listing with a named host from that host, others from the vendor API', () => {
    expect(catalog.offering('groq', 'gpt-oss-120b')?.upstreamModel).toBe('openai/gpt-oss-120b');
    expect(catalog.offering('groq', 'gpt-oss-120b')?.referenceOutputTokensPerSecond).toBe(257);
    expect(catalog.offering('novita', 'qwen3.7-max')).toBeDefined();
    expect(catalog.offering('deepseek', 'deepseek-v4-flash')).toBeDefined();
    expect(catalog.offering('zai', 'glm-5.2')).toBeDefined();
    expect(catalog.offering('alibaba', 'qwen3-max')).toBeDefined();
    expect(catalog.offering('minimax', 'minimax-m3')).toBeDefined();
  });

  it('derives capabilities from the names: VL/V/Omni vision, Coder code, QwQ and R1 distill reasoning', () => {
    for (const m of catalog.models()) {
      const vision = /\bVL\b|-VL-|\d(\.\d)?V\b|Omni/.test(m.name);
      expect(m.capabilities.includes('vision'), m.name).toBe(vision);
      if (/Coder/.test(m.name)) expect(m.capabilities, m.name).toContain('code');
    }
    expect(catalog.model('qwq-32b')!.capabilities).toContain('reasoning');
    expect(catalog.model('deepseek-r1-distill-llama-70b')!.capabilities).toEqual(['reasoning']);
  });

  it('prices are integer micros per MTok with a source and a read time', () => {
    for (const o of catalog.offerings()) {
      expect(Number.isSafeInteger(o.price.inputPerMTokMicros)).toBe(true);
      expect(Number.isSafeInteger(o.price.outputPerMTokMicros)).toBe(true);
      expect(o.price.source).toBe('reference');
      expect(o.price.readAt).toBe(1_000);
      expect(o.model.contextWindow).toBeGreaterThan(8_000);
    }
  });

  it('host gaps remove a capability from that offering only', () => {
    expect(catalog.offering('deepseek', 'deepseek-v4-flash')!.capabilities).not.toContain('json_schema');
    expect(catalog.offering('deepinfra', 'deepseek-v4-flash')!.capabilities).toContain('json_schema');
  });
});

describe('operator provider configuration', () => {
  it('uses only the configured providers and marks configured prices as config', () => {
    const c = new Catalog({
      providers: [
        { id: 'groq', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1', models: { 'gpt-oss-120b': { upstream: 'openai/gpt-oss-120b', inputPerMTokMicros: 100_000, outputPerMTokMicros: 500_000 } } },
        { id: 'acme', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1', models: { 'glm-4.6': { upstream: 'glm-4.6' } } },
      ],
    });
    expect(c.offerings()).toHaveLength(2);
    expect(c.offering('groq', 'gpt-oss-120b')!.price).toMatchObject({ inputPerMTokMicros: 100_000, source: 'config', origin: 'config:groq' });
    // No price configured and no reference for this host: the model's reference price, labelled so.
    expect(c.offering('acme', 'glm-4.6')!.price).toMatchObject({ inputPerMTokMicros: 600_000, source: 'reference' });
  });

  it('refuses an unknown model id naming the field', () => {
    expect(() => new Catalog({ providers: [{ id: 'groq', kind: 'openai-compatible', baseUrl: 'http://x/v1', models: { 'gpt-9': { upstream: 'gpt-9' } } }] })).toThrow(
      /providers\[0\]\.models\.gpt-9: not a catalog model id/,
    );
    expect(() => new Catalog({ providers: [{ id: 'Bad Id', kind: 'openai-compatible', baseUrl: 'http://x/v1', models: {} }] })).toThrow(CatalogError);
  });
});

describe('live prices from an OpenRouter-format /models list', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function serve(handler: (path: string) => { status: number; body: unknown }): Promise<string> {
    server = createServer((req, res) => {
      const { status, body } = handler(req.url ?? '');
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1`;
  }

  function liveCatalog(baseUrl: string): Catalog {
    const providers = defaultProviderConfigs().map((p) => (p.id === 'groq' ? { ...p, baseUrl, pricesFrom: 'models-endpoint' as const } : p));
    return new Catalog({ providers, now: 0 });
  }

  it('reads prices exactly, records where and when, reports unknown and unreadable entries', async () => {
    const baseUrl = await serve((path) => ({
      status: path === '/v1/models' ? 200 : 404,
      body: {
        data: [
          { id: 'openai/gpt-oss-120b', pricing: { prompt: '0.0000001', completion: '0.0000003' } },
          { id: 'openai/gpt-oss-20b', pricing: { prompt: '-1', completion: '0.0000003' } },
          { id: 'some/other-model', pricing: { prompt: '0.000001', completion: '0.000002' } },
        ],
      },
    }));
    const catalog = liveCatalog(baseUrl);
    const changes: string[] = [];
    catalog.onPriceChange((u) => changes.push(`${u.providerId}/${u.modelId}`));
    const v0 = catalog.version;
    const r = await syncProviderPrices(catalog, catalog.provider('groq')!, { now: () => 42 });
    expect(r.ok).toBe(true);
    expect(r.report).toMatchObject({ updated: 1, unknown: 1 });
    expect(r.report!.invalid).toEqual([{ id: 'openai/gpt-oss-20b', reason: expect.stringMatching(/pricing\.prompt/) }]);
    expect(catalog.offering('groq', 'gpt-oss-120b')!.price).toEqual({
      inputPerMTokMicros: 100_000,
      outputPerMTokMicros: 300_000,
      source: 'models-endpoint',
      readAt: 42,
      origin: `${baseUrl}/models`,
    });
    // The unreadable entry keeps its configured price.
    expect(catalog.offering('groq', 'gpt-oss-20b')!.price.source).toBe('reference');
    expect(changes).toEqual(['groq/gpt-oss-120b']);
    expect(catalog.version).toBeGreaterThan(v0);
  });

  it('keeps the last price when the list cannot be read', async () => {
    const baseUrl = await serve(() => ({ status: 503, body: { error: 'down' } }));
    const catalog = liveCatalog(baseUrl);
    const before = catalog.offering('groq', 'gpt-oss-120b')!.price;
    const sync = startPriceSync(catalog, { intervalMs: 60_000 });
    const [r] = await sync.ready;
    sync.stop();
    expect(r).toMatchObject({ providerId: 'groq', ok: false, error: expect.stringMatching(/HTTP 503/) });
    expect(catalog.offering('groq', 'gpt-oss-120b')!.price).toBe(before);
  });
});
