// The read side: models with live signals (filters, orders, measured latency, live prices, breaker state,
// calls per task type), providers, and the chain queries (head, pages, entry with proof, checkpoints,
// consistency proofs checked with the pure Merkle verifier).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex0x } from '../../src/chain/encoding.js';
import { verifyConsistency } from '../../src/chain/merkle.js';
import { parseCheckpoint } from '../../src/chain/checkpoint.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
let key: string;
beforeAll(async () => {
  s = await startTestServer();
  key = (await s.createAgent('q-agent', 50_000_000)).apiKey;
});
afterAll(async () => {
  await s?.close();
});

const ROUTE = 'mutation($i: RouteInput!) { route(input: $i) { __typename ... on RouteSuccess { model provider } } }';

describe('models', () => {
  const MODELS = `query($f: ModelFilter, $o: ModelOrder) { models(filter: $f, orderBy: $o) {
    id vendor intelligenceIndex referenceTokensPerSecond capabilities simulated health
    price { outputPerMTok { micros } source readAt origin }
    latency { p50Ms p95Ms tokensPerSecond samples source }
    offerings { provider breaker { state until } }
    outcomes { taskType calls finishRate }
  } }`;

  it('filters by capability, vendor, provider and health; orders by index, speed and price', async () => {
    const all = (await s.gql<{ models: Json[] }>(MODELS)).body.data!.models;
    expect(all.length).toBeGreaterThan(30);
    const idx = all.map((m) => m.intelligenceIndex);
    expect(idx).toEqual([...idx].sort((a, b) => b - a));
    for (const m of all) {
      expect(m.simulated).toBe(true);
      expect(m.price.source).toBe('MODELS_ENDPOINT');
      expect(m.price.origin).toMatch(/\/models$/);
      expect(Number.isSafeInteger(m.price.outputPerMTok.micros)).toBe(true);
      expect(m.outcomes).toHaveLength(8);
    }
    const vision = (await s.gql<{ models: Json[] }>(MODELS, { f: { capabilities: ['VISION'] } })).body.data!.models;
    expect(vision.length).toBeGreaterThan(0);
    expect(vision.length).toBeLessThan(all.length);
    for (const m of vision) expect(m.capabilities).toContain('VISION');
    const vendor = all[0]!.vendor as string;
    for (const m of (await s.gql<{ models: Json[] }>(MODELS, { f: { vendor } })).body.data!.models) expect(m.vendor).toBe(vendor);
    for (const m of (await s.gql<{ models: Json[] }>(MODELS, { f: { provider: 'zai' } })).body.data!.models) {
      expect(m.offerings.map((o: Json) => o.provider)).toContain('zai');
    }
    const byPrice = (await s.gql<{ models: Json[] }>(MODELS, { o: 'PRICE' })).body.data!.models.map((m) => m.price.outputPerMTok.micros);
    expect(byPrice).toEqual([...byPrice].sort((a, b) => a - b));
    const bySpeed = (await s.gql<{ models: Json[] }>(MODELS, { o: 'SPEED' })).body.data!.models.map((m) => m.latency.tokensPerSecond);
    expect(bySpeed).toEqual([...bySpeed].sort((a, b) => b - a));
    const bad = await s.gql(MODELS, { o: 'POPULARITY' });
    expect(bad.body.errors?.length).toBeGreaterThan(0);
  });

  it('shows measured latency, calls per task type and breaker state as traffic happens', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await s.gql<{ route: Json }>(ROUTE, { i: { messages: [{ role: 'USER', content: `measure ${i}` }], maxOutputTokens: 64, pin: { model: 'glm-4.6' }, taskType: 'CHAT' } }, { key });
      expect(r.body.data?.route.__typename).toBe('RouteSuccess');
    }
    const q = await s.gql<{ model: Json }>('{ model(id: "glm-4.6") { id latency { p50Ms p95Ms samples source } outcomes { taskType calls } offerings { provider breaker { state } } } }');
    const m = q.body.data!.model;
    expect(m.latency.source).toBe('MEASURED');
    expect(m.latency.samples).toBeGreaterThanOrEqual(5);
    expect(m.latency.p95Ms).toBeGreaterThanOrEqual(m.latency.p50Ms);
    expect(m.outcomes.find((o: Json) => o.taskType === 'CHAT').calls).toBeGreaterThanOrEqual(6);

    // A 429 with a long Retry-After opens the breaker of that (provider, model).
    const rule = s.app.fleet!.inject({ providerId: 'zai', model: 'glm-4.6', fault: { kind: 'rate_limit', retryAfterSeconds: 60 } });
    try {
      await s.gql(ROUTE, { i: { messages: [{ role: 'USER', content: 'trip it' }], maxOutputTokens: 16, taskType: 'CHAT' } }, { key });
      await s.gql(ROUTE, { i: { messages: [{ role: 'USER', content: 'trip it' }], maxOutputTokens: 16, pin: { model: 'glm-4.6' } } }, { key });
    } finally {
      rule.remove();
    }
    const open = await s.gql<{ models: Json[] }>('{ models(filter: { health: OPEN }) { id offerings { provider breaker { state until } } } }');
    const glm = open.body.data!.models.find((x) => x.id === 'glm-4.6');
    expect(glm?.offerings[0].breaker.state).toBe('OPEN');
    expect(Date.parse(glm?.offerings[0].breaker.until)).toBeGreaterThan(Date.now());
    expect(await s.gql('{ model(id: "no-such-model") { id } }').then((r) => r.body.data?.model)).toBeNull();
  });

  it('lists providers, labelled simulated', async () => {
    const r = await s.gql<{ providers: Json[] }>('{ providers { id simulated pricesFrom models } }');
    expect(r.body.data!.providers.length).toBeGreaterThan(3);
    for (const p of r.body.data!.providers) {
      expect(p.simulated).toBe(true);
      expect(p.models.length).toBeGreaterThan(0);
    }
  });
});

describe('chain queries', () => {
  it('serves head, pages, checkpoints and consistency proofs that verify', async () => {
    await s.gql(ROUTE, { i: { messages: [{ role: 'USER', content: 'chain one' }], maxOutputTokens: 16 } }, { key });
    const cp1 = await waitForCheckpoint();
    await s.gql(ROUTE, { i: { messages: [{ role: 'USER', content: 'chain two' }], maxOutputTokens: 16 } }, { key });
    let cp2 = await waitForCheckpoint();
    for (let i = 0; i < 50 && cp2.size === cp1.size; i++) {
      await new Promise((r) => setTimeout(r, 50));
      cp2 = await waitForCheckpoint();
    }
    expect(cp2.size).toBeGreaterThan(cp1.size);
    expect(cp2.height).toBeGreaterThan(cp1.height);

    const head = (await s.gql<{ chainHead: Json }>('{ chainHead { size headSeq headHash checkpoint { size } } }')).body.data!.chainHead;
    expect(head.size).toBe(head.headSeq + 1);
    expect(head.headHash).toMatch(/^0x[0-9a-f]{64}$/);

    const page = (await s.gql<{ chainEntries: Json }>('query($f: SafeInt) { chainEntries(fromSeq: $f, first: 3) { entries { seq kind } next } }', { f: 1 })).body.data!.chainEntries;
    expect(page.entries.map((e: Json) => e.seq)).toEqual([1, 2, 3]);
    expect(page.next).toBe(4);
    const tooMany = await s.gql('{ chainEntries(first: 1001) { next } }');
    expect(tooMany.body.errors?.[0]?.extensions?.field).toBe('first');
    const negative = await s.gql('{ chainEntry(seq: -1) { seq } }');
    expect(negative.body.errors?.[0]?.extensions?.field).toBe('seq');
    expect((await s.gql('{ chainEntry(seq: 999999999) { seq } }')).body.data?.chainEntry).toBeNull();

    const bySize = (await s.gql<{ checkpoint: Json }>('query($n: SafeInt) { checkpoint(size: $n) { size rootHash note } }', { n: cp1.size })).body.data!.checkpoint;
    expect(bySize).toMatchObject({ size: cp1.size, rootHash: cp1.rootHash });

    const proof = (await s.gql<{ consistencyProof: Json }>('query($a: SafeInt!, $b: SafeInt!) { consistencyProof(from: $a, to: $b) { from to hashes } }', { a: cp1.size, b: cp2.size })).body.data!.consistencyProof;
    const ok = verifyConsistency(cp1.size, cp2.size, parseCheckpoint(cp1.note).rootHash, parseCheckpoint(cp2.note).rootHash, proof.hashes.map((h: string) => fromHex0x(h)));
    expect(ok).toBe(true);
    const backwards = await s.gql('{ consistencyProof(from: 5, to: 2) { from } }');
    expect(backwards.body.errors?.[0]?.extensions?.field).toBe('to');

    const keys = (await s.gql<{ chainKeys: Json[] }>('{ chainKeys { keyId algorithm publicKey noteKey validFrom validUntil } }')).body.data!.chainKeys;
    const rest = (await (await fetch(`${s.url}/v1/audit/keys`)).json()) as Json;
    expect(keys).toEqual(rest.keys);
  });
});

async function waitForCheckpoint(): Promise<Json> {
  for (let i = 0; i < 100; i++) {
    const r = await s.gql<{ chainHead: Json }>('{ chainHead { size checkpoint { height size rootHash note } } }');
    const h = r.body.data!.chainHead;
    if (h.checkpoint && h.checkpoint.size === h.size) return h.checkpoint;
    await new Promise((res) => setTimeout(res, 30));
  }
  throw new Error('no checkpoint covering the head');
}
