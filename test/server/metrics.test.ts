// GET /metrics over real HTTP on a whole server: access rules, the text exposition format (parsed strictly
// here), and counters that move by exactly the calls made through the simulated fleet.
import perfHooks from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../src/server/metrics.js';
import { startTestServer, subscribe, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Series key (`name{a="x",b="y"}`, labels sorted) → value. */
type Samples = Map<string, number>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;

/**
 * Parses the Prometheus text format (0.0.4) strictly: every sample belongs to a family declared by a
 * preceding # TYPE (histogram samples by their _bucket/_sum/_count suffix), label syntax is exact, values
 * are numbers, and no series appears twice. Throws naming the bad line.
 */
function parseExposition(text: string): { samples: Samples; types: Map<string, string>; help: Map<string, string> } {
  const samples: Samples = new Map();
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, what, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`);
      if (what === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type: ${line}`);
        if (types.has(name)) throw new Error(`family declared twice: ${line}`);
        types.set(name, rest);
      } else help.set(name, rest);
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, name, labelText = '', valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: [string, string][] = [];
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      if (!l) throw new Error(`bad labels: ${line}`);
      labels.push([l[1]!, l[2]!]);
    }
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
    const special = valueText.toLowerCase();
    const value = special === '+inf' || special === 'inf' ? Infinity : special === '-inf' ? -Infinity : special === 'nan' ? NaN : Number(valueText);
    if (Number.isNaN(value) && special !== 'nan') throw new Error(`bad value: ${line}`);
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const type = types.get(family);
    if (!type) throw new Error(`sample before its # TYPE: ${line}`);
    if (family !== name && type !== 'histogram' && type !== 'summary') throw new Error(`suffix on a ${type}: ${line}`);
    const key = series(name, Object.fromEntries(labels));
    if (samples.has(key)) throw new Error(`series twice: ${line}`);
    samples.set(key, value);
  }
  return { samples, types, help };
}

function series(name: string, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return l ? `${name}{${l}}` : name;
}

/** Sum of a family's series whose labels include `match`. */
function sum(samples: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, v] of samples) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    if (Object.entries(match).every(([k, val]) => key.includes(`${k}="${val}"`))) total += v;
  }
  return total;
}

let s: TestServer;

async function scrape(url = s.url, headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }): Promise<Samples> {
  const res = await fetch(`${url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text()).samples;
}

async function chat(key: string, body: Json): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ max_tokens: 16, ...body }),
  });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('access to /metrics', () => {
  it('needs the admin token by default (bearer or x-admin-token); a wrong or missing one gets 401', async () => {
    const none = await fetch(`${s.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as Json).error.code).toBe('UNAUTHENTICATED');
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
    // An agent's key is not the admin token.
    const { apiKey } = await s.createAgent('metrics-peeker', 0);
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(401);
    await scrape();
    await scrape(s.url, { 'x-admin-token': TEST_ADMIN_TOKEN });
    expect((await fetch(`${s.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status).toBe(405);
  });

  it('decides admin from both headers exactly as GraphQL does (an agent key beside a valid x-admin-token is admin)', async () => {
    const { apiKey } = await s.createAgent('metrics-two-headers', 0);
    const cases: [string, Record<string, string>, number][] = [
      ['agent key + x-admin-token', { authorization: `Bearer ${apiKey}`, 'x-admin-token': TEST_ADMIN_TOKEN }, 200],
      ['admin bearer + x-admin-token', { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'x-admin-token': TEST_ADMIN_TOKEN }, 200],
      ['bearer, any case and spacing', { authorization: `bearer \t${TEST_ADMIN_TOKEN}` }, 200],
      ['admin bearer + wrong x-admin-token', { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'x-admin-token': 'wrong' }, 401],
      ['wrong bearer + x-admin-token', { authorization: 'Bearer wrong', 'x-admin-token': TEST_ADMIN_TOKEN }, 401],
      ['agent key + wrong x-admin-token', { authorization: `Bearer ${apiKey}`, 'x-admin-token': 'wrong' }, 401],
      ['not a bearer scheme', { authorization: `Basic ${TEST_ADMIN_TOKEN}` }, 401],
    ];
    for (const [name, headers, status] of cases) {
      expect((await fetch(`${s.url}/metrics`, { headers })).status, name).toBe(status);
      // GraphQL's answer to an admin-only query with the same headers agrees.
      const g = await s.gql<{ agents: unknown[] }>('{ agents { handle } }', {}, { headers });
      expect(Array.isArray(g.body.data?.agents), name).toBe(status === 200);
    }
  });

  it('says so (403) when access is admin and no admin token is configured; public needs none; disabled is 404', async () => {
    const noToken = await startTestServer({ adminToken: null });
    try {
      const res = await fetch(`${noToken.url}/metrics`, { headers: { authorization: 'Bearer anything' } });
      expect(res.status).toBe(403);
      const body = (await res.json()) as Json;
      expect(body.error.code).toBe('METRICS_NEED_ADMIN_TOKEN');
      expect(body.error.message).toContain('AINFERA_ADMIN_TOKEN');
    } finally {
      await noToken.close();
    }
    const open = await startTestServer({ adminToken: null, config: { metrics: { access: 'public' } } });
    try {
      const samples = await scrape(open.url, {});
      expect(samples.get('ainfera_ready')).toBe(1);
    } finally {
      await open.close();
    }
    const off = await startTestServer({ config: { metrics: { enabled: false } } });
    try {
      expect((await fetch(`${off.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});

describe('what /metrics says', () => {
  it('parses as Prometheus text with HELP and TYPE for every family, process metrics included', async () => {
    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    const { samples, types, help } = parseExposition(await res.text());
    for (const name of types.keys()) expect(help.get(name), name).toBeTruthy();
    expect(types.get('ainfera_route_calls_total')).toBe('counter');
    expect(types.get('ainfera_route_added_latency_seconds')).toBe('histogram');
    expect(types.get('ainfera_breaker_state')).toBe('gauge');
    for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) expect(samples.has(name), name).toBe(true);
    expect(samples.get(series('ainfera_info', { simulated: 'true', store: 'embedded' }))).toBe(1);
    expect(samples.get('ainfera_ready')).toBe(1);
    expect(samples.get(series('ainfera_health_problem', { code: 'no_servable_offering' }))).toBe(0);
    // Every offering's breaker is in exactly one state.
    const offerings = s.app.catalog.offerings();
    expect(samples.get('ainfera_offerings_servable')).toBe(offerings.length);
    for (const o of offerings) {
      const states = ['closed', 'half_open', 'open'].map((state) => samples.get(series('ainfera_breaker_state', { model: o.modelId, provider: o.providerId, state })));
      expect(states.filter((v) => v === 1)).toHaveLength(1);
      expect(states.filter((v) => v === 0)).toHaveLength(2);
    }
  });

  it('counts route calls, attempts, chain entries and batches by exactly the calls made', async () => {
    const handle = 'metrics-counted';
    const { apiKey } = await s.createAgent(handle, 50_000_000);
    const { apiKey: brokeKey } = await s.createAgent('metrics-broke', 0);
    const prompt = 'A very particular prompt about lighthouses';
    const before = await scrape();
    const sizeBefore = s.app.appender.size;

    const answered: { provider: string; model: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await chat(apiKey, { model: 'auto', messages: [{ role: 'user', content: `${prompt} ${i}` }] });
      expect(r.status).toBe(200);
      answered.push({ provider: r.headers.get('x-ainfera-provider')!, model: r.body.model as string });
    }
    expect((await chat(brokeKey, { model: 'auto', messages: [{ role: 'user', content: prompt }] })).status).toBe(402);
    expect((await chat(apiKey, { model: 'auto', messages: [{ role: 'user', content: prompt }], ainfera: { caps: { costCeilingMicros: 1 } } })).status).toBe(422);
    await s.app.appender.flush();
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);

    expect(delta('ainfera_route_calls_total', { outcome: 'completed', task_type: 'chat' })).toBe(3);
    expect(delta('ainfera_route_calls_total', { outcome: 'insufficient_credit', task_type: 'unknown' })).toBe(1);
    expect(delta('ainfera_route_calls_total', { outcome: 'no_eligible_model', task_type: 'chat' })).toBe(1);
    expect(delta('ainfera_route_calls_total')).toBe(5);
    expect(delta('ainfera_route_replays_total')).toBe(0);
    expect(delta('ainfera_route_call_duration_seconds_count', { outcome: 'completed' })).toBe(3);
    expect(delta('ainfera_route_added_latency_seconds_count', { outcome: 'completed' })).toBe(3);
    expect(delta('ainfera_route_added_latency_seconds_count')).toBe(5);
    // Added latency excludes the provider's time, so it is at most the wall time.
    expect(delta('ainfera_route_added_latency_seconds_sum')).toBeLessThanOrEqual(delta('ainfera_route_call_duration_seconds_sum'));
    expect(after.get('ainfera_route_calls_in_flight')).toBe(0);
    // Where the time went: every phase once per answered call; the refused ones stop after plan.
    for (const phase of ['hold', 'provider', 'chain', 'settle']) expect(delta('ainfera_route_phase_duration_seconds_count', { phase }), phase).toBe(3);
    for (const phase of ['admit', 'plan']) expect(delta('ainfera_route_phase_duration_seconds_count', { phase }), phase).toBe(5);
    // The phases of the answered calls add up to no more than their wall time.
    expect(delta('ainfera_route_phase_duration_seconds_sum')).toBeLessThanOrEqual(delta('ainfera_route_call_duration_seconds_sum'));

    // One successful attempt per answered call (no faults), on the (provider, model) that answered.
    expect(delta('ainfera_provider_attempts_total')).toBe(3);
    const byOffering = new Map<string, number>();
    for (const a of answered) byOffering.set(`${a.provider}/${a.model}`, (byOffering.get(`${a.provider}/${a.model}`) ?? 0) + 1);
    for (const [key, n] of byOffering) {
      const [provider, model] = key.split('/') as [string, string];
      expect(delta('ainfera_provider_attempts_total', { model, provider, result: 'ok' }), key).toBe(n);
    }

    // Chain entries: what this process appended is what the chain grew by, batch sizes add up.
    const grew = s.app.appender.size - sizeBefore;
    expect(delta('ainfera_chain_entries_total')).toBe(grew);
    expect(delta('ainfera_chain_entries_total', { kind: 'request' })).toBe(5);
    expect(delta('ainfera_chain_entries_total', { kind: 'completed' })).toBe(3);
    expect(delta('ainfera_chain_entries_total', { kind: 'rejected' })).toBe(2);
    expect(delta('ainfera_chain_batch_entries_sum')).toBe(grew);
    expect(delta('ainfera_chain_batch_entries_count')).toBe(delta('ainfera_chain_batches_total'));
    expect(delta('ainfera_chain_commits_total', { result: 'ok' })).toBe(delta('ainfera_chain_batches_total'));
    expect(delta('ainfera_chain_commits_total', { result: 'error' })).toBe(0);
    expect(delta('ainfera_chain_commit_duration_seconds_count')).toBe(delta('ainfera_chain_commits_total'));
    expect(after.get('ainfera_chain_size_entries')).toBe(s.app.appender.size);
    expect(after.get('ainfera_chain_append_queue_depth')).toBe(0);

    // Nothing private: no agent handle, key, prompt text or balance anywhere in the exposition.
    const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
    for (const secret of [handle, 'metrics-broke', apiKey, brokeKey, 'lighthouses', TEST_ADMIN_TOKEN]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/agent=|handle=|balance/);
  });

  it('counts a fallback by reason and the failed attempt by error class, and shows the opened breaker', async () => {
    const { apiKey } = await s.createAgent('metrics-fallback', 50_000_000);
    const request = { messages: [{ role: 'user' as const, content: 'fall back please' }], maxOutputTokens: 16 };
    const plan = s.app.router.plan(request, { now: Date.now() });
    if (!plan.ok) throw new Error('expected an eligible plan');
    const first = plan.attempts[0]!;
    const offering = s.app.catalog.offering(first.providerId, first.modelId)!;
    const rule = s.app.fleet!.inject({ providerId: first.providerId, model: offering.upstreamModel, fault: { kind: 'rate_limit', retryAfterSeconds: 600 }, times: 1 });
    const before = await scrape();
    const r = await chat(apiKey, { model: 'auto', messages: request.messages });
    rule.remove();
    expect(r.status).toBe(200);
    expect(rule.hits).toBe(1);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);
    expect(delta('ainfera_fallbacks_total', { reason: 'rate_limited' })).toBe(1);
    expect(delta('ainfera_fallbacks_total')).toBe(1);
    expect(delta('ainfera_provider_attempts_total', { model: first.modelId, provider: first.providerId, result: 'rate_limited' })).toBe(1);
    expect(delta('ainfera_provider_attempts_total', { result: 'ok' })).toBe(1);
    expect(delta('ainfera_route_calls_total', { outcome: 'completed' })).toBe(1);
    expect(after.get(series('ainfera_breaker_state', { model: first.modelId, provider: first.providerId, state: 'open' }))).toBe(1);
    expect(after.get('ainfera_offerings_servable')).toBe(s.app.catalog.offerings().length - 1);
  });

  it('answers and counts once a replayed call whose stored decision is null (counting never fails a call)', async () => {
    const { apiKey } = await s.createAgent('metrics-replay', 50_000_000);
    const route = () =>
      s.gql<{ route: Json }>(
        'mutation($i: RouteInput!) { route(input: $i) { __typename ... on RouteSuccess { decisionId completion replayed } } }',
        { i: { messages: [{ role: 'USER', content: 'replay me' }], maxOutputTokens: 16, idempotencyKey: 'metrics-replay-1' } },
        { key: apiKey },
      );
    const first = await route();
    expect(first.body.errors).toBeUndefined();
    const id = first.body.data!.route.decisionId as string;
    // A record whose decision view is gone (an older version's, or damaged): the replay has decision null.
    const [d] = await s.app.store.decisions.byIds([id]);
    await s.app.store.decisions.update(id, { detail: { ...(d!.detail as Json), decision: null } });
    const before = await scrape();
    const again = await route();
    expect(again.status).toBe(200);
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data!.route).toEqual({ __typename: 'RouteSuccess', decisionId: id, completion: first.body.data!.route.completion, replayed: true });
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);
    expect(delta('ainfera_route_calls_total')).toBe(1);
    expect(delta('ainfera_route_calls_total', { outcome: 'completed', task_type: 'unknown' })).toBe(1);
    expect(delta('ainfera_route_calls_total', { outcome: 'error' })).toBe(0);
    expect(delta('ainfera_route_replays_total', { outcome: 'completed' })).toBe(1);
    expect(after.get('ainfera_route_calls_in_flight')).toBe(0);
  });

  it('shows checkpoints, live subscribers and WebSocket connections', async () => {
    // Checkpoints are cut every 100 ms in tests: wait until one covers the whole chain.
    let samples = await scrape();
    for (let i = 0; i < 100 && samples.get('ainfera_chain_checkpoint_size_entries') !== s.app.appender.size; i++) {
      await new Promise((r) => setTimeout(r, 50));
      samples = await scrape();
    }
    expect(samples.get('ainfera_chain_checkpoint_size_entries')).toBe(s.app.appender.size);
    const latest = await s.app.store.chain.latestCheckpoint();
    expect(samples.get('ainfera_chain_checkpoint_height')).toBe(latest!.index);
    expect(samples.get('ainfera_chain_checkpoints_total')).toBeGreaterThanOrEqual(1);

    expect(samples.get('ainfera_subscribers')).toBe(0);
    const client = s.wsClient();
    const sub = subscribe<Json>(client, 'subscription { chainEvents(fromSeq: 0) { seq } }');
    await sub.waitFor((events) => events.length > 0);
    samples = await scrape();
    expect(samples.get('ainfera_subscribers')).toBe(1);
    expect(samples.get('ainfera_websocket_connections')).toBe(1);
    expect(samples.get('ainfera_http_requests_in_flight')).toBe(1); // this scrape
    sub.stop();
    await client.dispose();
  });
});

describe('process metrics', () => {
  it('start their event-loop-delay and GC monitors once per process, however many apps show them', async () => {
    new Metrics({ defaultMetrics: true }); // the process's collectors exist from here on (the server above made them already)
    // prom-client looks these up on the perf_hooks module at each collector start: a spy sees every monitor made.
    const delay = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const observe = vi.spyOn(perfHooks.PerformanceObserver.prototype, 'observe');
    try {
      const apps = [1, 2, 3].map(() => new Metrics({ defaultMetrics: true }));
      expect(delay).not.toHaveBeenCalled();
      expect(observe).not.toHaveBeenCalled();
      for (const m of apps) {
        const { samples } = parseExposition((await m.render()).body);
        for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes']) expect(samples.has(name), name).toBe(true);
        expect(samples.has('ainfera_route_calls_in_flight')).toBe(true);
      }
      const without = parseExposition((await new Metrics({ defaultMetrics: false }).render()).body).samples;
      expect([...without.keys()].filter((k) => k.startsWith('nodejs_') || k.startsWith('process_'))).toEqual([]);
    } finally {
      delay.mockRestore();
      observe.mockRestore();
    }
  });
});
