// GET /v1/models lists what this deployment can serve, not the whole reference catalog.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog, defaultProviderConfigs } from '../../src/catalog/index.js';
import { createOpenAIRoutes } from '../../src/server/openai-routes.js';

let server: Server;
let base: string;
let catalog: Catalog;

beforeAll(async () => {
  // One provider configured: the catalog still knows every model, but only that provider's are served.
  const one = defaultProviderConfigs().find((p) => p.id === 'zai')!;
  catalog = new Catalog({ providers: [one] });
  const routes = createOpenAIRoutes({
    gateway: { routeCall: () => Promise.reject(new Error('not used')) },
    authenticate: () => Promise.resolve(null),
    catalog,
  });
  server = createServer((req, res) => {
    void routes(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('GET /v1/models with one provider configured', () => {
  it('lists auto and only the models that provider serves', async () => {
    const served = new Set(catalog.offerings().map((o) => o.modelId));
    expect(served.size).toBeGreaterThan(0);
    expect(served.size).toBeLessThan(catalog.models().length);
    const body = (await (await fetch(`${base}/models`)).json()) as { data: { id: string }[] };
    expect(body.data.map((m) => m.id)).toEqual(['auto', ...catalog.models().filter((m) => served.has(m.id)).map((m) => m.id)]);
  });

  it('answers 404 for a catalog model no configured provider serves, naming why', async () => {
    const unserved = catalog.models().find((m) => !catalog.offerings().some((o) => o.modelId === m.id))!;
    const res = await fetch(`${base}/models/${unserved.id}`);
    expect(res.status).toBe(404);
    const err = (await res.json()) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('model_not_found');
    expect(err.error.message).toMatch(/not served by any configured provider/);
  });
});
