// Liveness (/health) and readiness (/ready) over real HTTP on a whole server: the simulated fleet made to
// fail through its fault injection, the store made to fail through a wrapper, shutdown with a drain delay.
// The health checks' clock is the test's (opsClock): cache lifetimes, stall thresholds and breaker
// cooldowns elapse by moving it, never by sleeping.
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultHandle } from '../../src/providers/sim-fleet.js';
import type { Ainfera } from '../../src/server/app.js';
import { HealthMonitor } from '../../src/server/health.js';
import { ChainStoreWatch, RecoveryWatch } from '../../src/server/observe.js';
import type { Store } from '../../src/store/port.js';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Probe {
  status: number;
  body: Json;
}

async function probe(url: string, path: '/health' | '/ready'): Promise<Probe> {
  const res = await fetch(`${url}${path}`);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { status: res.status, body: (await res.json()) as Json };
}

const codes = (b: Json): string[] => (b.problems as { code: string }[]).map((p) => p.code).sort();

/** Store failures a test switches on and off. */
interface Faults {
  pingFails: boolean;
  /** chain.head() calls seen (readiness must never make one: on MongoDB it can write). */
  headCalls: number;
  appendFails: boolean;
  /** While set, chain appends wait for it. */
  appendGate: Promise<void> | null;
  listPendingFails: boolean;
  /** decisions.updateIfPending fails: a call the sweep makes only when there is a decision to claim. */
  claimFails: boolean;
}

/**
 * A store whose failures the test controls. Shared signals (store.stats) are hidden too: they stand for
 * other instances, and merging them would put back breakers this instance's own clock has moved on.
 */
function faultyStore(store: Store, f: Faults): Store {
  const chain = overriding(store.chain, {
    head: () => {
      f.headCalls++;
      return store.chain.head();
    },
    append: async (after: Parameters<Store['chain']['append']>[0], entries: Parameters<Store['chain']['append']>[1]) => {
      if (f.appendGate) await f.appendGate;
      if (f.appendFails) throw Object.assign(new Error('disk full'), { name: 'StoreWriteError' });
      return store.chain.append(after, entries);
    },
  });
  const decisions = overriding(store.decisions, {
    updateIfPending: (...args: Parameters<Store['decisions']['updateIfPending']>) =>
      f.claimFails ? Promise.reject(Object.assign(new Error('write conflict'), { name: 'StoreWriteError' })) : store.decisions.updateIfPending(...args),
    list: (filter: Parameters<Store['decisions']['list']>[0], first: number, after?: string) =>
      f.listPendingFails && filter.outcome === 'pending'
        ? Promise.reject(Object.assign(new Error('timeout'), { name: 'StoreTimeoutError' }))
        : store.decisions.list(filter, first, after),
  });
  const stats = overriding(store.stats, { list: async () => [] });
  const ping = () => (f.pingFails ? Promise.reject(Object.assign(new Error('connection refused'), { name: 'StoreDownError' })) : store.ping!());
  return overriding(store, { chain, decisions, stats, ping });
}

/** `target` with some members replaced; the rest bound to the target (adapters keep private state). */
function overriding<T extends object>(target: T, members: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(members, prop)) return members[prop as keyof T];
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

interface Started {
  a: Ainfera;
  url: string;
  faults: Faults;
  /** Moves the health checks' clock forward. */
  advance(ms: number): void;
  key: string;
  agentId: string;
  chat(model: string, content?: string): Promise<{ status: number; body: Json }>;
  close(): Promise<void>;
}

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});

/** A whole server (the real composition root, startTestServer) with the test's clock for health checks. */
async function start(config: Record<string, unknown> = {}): Promise<Started> {
  const faults: Faults = { pingFails: false, headCalls: 0, appendFails: false, appendGate: null, listPendingFails: false, claimFails: false };
  let skew = 0;
  const server = await startTestServer({
    config: { routing: { defaultBar: 0 }, ...config },
    opsClock: () => Date.now() + skew,
    wrapStore: (st) => faultyStore(st, faults),
  });
  const a = server.ainfera;
  const { apiKey: key, agent } = await a.app.accounts.createAgent(TEST_ADMIN_TOKEN, { handle: 'health-agent', creditMicros: 50_000_000 });
  const s: Started = {
    a,
    url: a.url,
    faults,
    key,
    agentId: agent.id,
    advance: (ms) => {
      skew += ms;
    },
    async chat(model, content = 'Say hello') {
      const res = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model, messages: [{ role: 'user', content }], max_tokens: 16 }),
      });
      return { status: res.status, body: (await res.json()) as Json };
    },
    close: () => server.close(),
  };
  running.push(s);
  return s;
}

describe('/health and /ready on a healthy server', () => {
  let s: TestServer;
  afterEach(async () => {
    await s?.close();
  });

  it('say ok and ready, with the fields /health always had, and nothing private', async () => {
    s = await startTestServer();
    const live = await probe(s.url, '/health');
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ status: 'ok', ready: true, problems: [], simulated: true, store: 'embedded', subscribers: 0, chainQueued: 0 });
    expect(live.body.offerings.total).toBe(s.app.catalog.offerings().length);
    expect(live.body.offerings.servable).toBe(live.body.offerings.total);
    expect(live.body.chainSize).toBe(s.app.appender.size);
    const ready = await probe(s.url, '/ready');
    expect(ready).toEqual({ status: 200, body: { ready: true, status: 'ok', problems: [] } });
    // HEAD answers the status with no body (load balancers often probe with it); other methods are refused.
    const head = await fetch(`${s.url}/ready`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${s.url}/health`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(JSON.stringify(live.body)).not.toContain(s.demoKey ?? 'no-demo-key');
    expect(JSON.stringify(live.body)).not.toContain(TEST_ADMIN_TOKEN);
  });
});

describe('readiness', () => {
  it('turns 503 while draining on shutdown, keeps serving during the drain delay, and a second close ends the delay', async () => {
    const s = await start({ health: { drainDelayMs: 600_000 } });
    expect((await probe(s.url, '/ready')).status).toBe(200);
    const closing = s.a.close();
    const ready = await probe(s.url, '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, status: 'degraded' });
    expect(codes(ready.body)).toEqual(['draining']);
    const live = await probe(s.url, '/health');
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('degraded');
    expect(codes(live.body)).toEqual(['draining']);
    // Still serving: a load balancer that has not yet seen the 503 loses no call.
    const call = await s.chat('auto');
    expect(call.status).toBe(200);
    expect(call.body.choices[0].message.content.length).toBeGreaterThan(0);
    await s.a.close(); // ends the drain delay: the server stops accepting and drains
    await closing;
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });

  it('turns 503 when every provider offering has its breaker open, and recovers when they come back', async () => {
    const s = await start();
    const { catalog, fleet, signals } = s.a.app;
    // Every provider answers 429 with a long Retry-After: one call through an offering opens its breaker.
    const rules: FaultHandle[] = catalog.providers().map((p) => fleet!.inject({ providerId: p.id, fault: { kind: 'rate_limit', retryAfterSeconds: 600 } }));
    const offerings = catalog.offerings();
    for (const o of offerings) {
      if (!signals.isAvailable(o.modelId, o.providerId, Date.now())) continue; // opened by an earlier call's attempt
      const r = await s.chat(`${o.providerId}/${o.modelId}`);
      expect([422, 502]).toContain(r.status);
    }
    const ready = await probe(s.url, '/ready');
    expect(ready.status).toBe(503);
    expect(codes(ready.body)).toEqual(['no_servable_offering']);
    expect(ready.body.problems[0].message).toBe(`every one of the ${offerings.length} provider offerings has its breaker open`);
    const live = await probe(s.url, '/health');
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ status: 'degraded', ready: false, offerings: { total: offerings.length, servable: 0 } });
    // A routed call says why (422 naming the open breakers): the instance is alive, just cannot route.
    expect((await s.chat('auto')).status).toBe(422);

    // The providers come back and the Retry-After elapses: breakers half-open, readiness returns.
    for (const r of rules) r.remove();
    s.advance(601_000);
    const back = await probe(s.url, '/ready');
    expect(back).toEqual({ status: 200, body: { ready: true, status: 'ok', problems: [] } });
    expect((await probe(s.url, '/health')).body.offerings.servable).toBe(offerings.length);
    // And the half-open probe goes through: a real call is answered.
    expect((await s.chat('auto')).status).toBe(200);
  });

  it('can be told to stay ready with nothing servable (breakers are shared by every instance)', async () => {
    const s = await start({ health: { readyRequiresServable: false } });
    const { catalog, fleet, signals } = s.a.app;
    for (const p of catalog.providers()) fleet!.inject({ providerId: p.id, fault: { kind: 'rate_limit', retryAfterSeconds: 600 } });
    for (const o of catalog.offerings()) {
      if (signals.isAvailable(o.modelId, o.providerId, Date.now())) await s.chat(`${o.providerId}/${o.modelId}`);
    }
    const ready = await probe(s.url, '/ready');
    expect(ready).toEqual({ status: 200, body: { ready: true, status: 'degraded', problems: [] } });
    expect(codes((await probe(s.url, '/health')).body)).toEqual(['no_servable_offering']);
  });

  it('turns 503 while the store does not answer a ping, pinging at most once per storeCheckMs and never reading the chain head', async () => {
    const s = await start({ health: { storeCheckMs: 5_000 } });
    const headCalls = s.faults.headCalls;
    expect((await probe(s.url, '/ready')).status).toBe(200);
    s.faults.pingFails = true;
    // Within storeCheckMs the last answer stands (no store read per probe).
    expect((await probe(s.url, '/ready')).status).toBe(200);
    s.advance(5_001);
    const down = await probe(s.url, '/ready');
    expect(down.status).toBe(503);
    expect(codes(down.body)).toEqual(['store_unreachable']);
    // The reason names the error class, never the store's message (it could name hosts or credentials).
    expect(down.body.problems[0].message).toBe('the embedded store did not answer a ping (StoreDownError)');
    expect(JSON.stringify(down.body)).not.toContain('connection refused');
    // Liveness reports it without reading the store itself, and stays 200.
    const live = await probe(s.url, '/health');
    expect(live.status).toBe(200);
    expect(codes(live.body)).toEqual(['store_unreachable']);

    s.faults.pingFails = false;
    expect((await probe(s.url, '/ready')).status).toBe(503); // cached until the next check is due
    s.advance(5_001);
    expect(await probe(s.url, '/ready')).toEqual({ status: 200, body: { ready: true, status: 'ok', problems: [] } });
    // chain.head() on MongoDB finishes an unfinished batch (a write racing the appender): probes never call it.
    expect(s.faults.headCalls).toBe(headCalls);
  });

  it('turns 503 while a chain write makes no progress for chainStallMs, and recovers when it lands', async () => {
    const s = await start({ health: { chainStallMs: 10_000 } });
    let release!: () => void;
    s.faults.appendGate = new Promise<void>((r) => (release = r));
    const call = s.chat('auto');
    try {
      const watch = s.a.app.ops.chainWatch;
      while (watch.inFlightSince === null) await new Promise((r) => setTimeout(r, 5));
      expect(s.a.app.appender.busy).toBe(true); // what health reads to see a batch not yet acknowledged
      expect((await probe(s.url, '/ready')).status).toBe(200); // a write in progress is not a stall
      s.advance(10_001);
      const stalled = await probe(s.url, '/ready');
      expect(stalled.status).toBe(503);
      expect(codes(stalled.body)).toEqual(['chain_stalled']);
      expect(stalled.body.problems[0].message).toMatch(/^a chain write has been running for \d+ ms$/);
    } finally {
      // Whatever happened above, let the write land so the call and the server can finish.
      s.faults.appendGate = null;
      release();
    }
    expect((await call).status).toBe(200);
    await s.a.app.appender.flush();
    expect(s.a.app.appender.busy).toBe(false);
    expect(await probe(s.url, '/ready')).toEqual({ status: 200, body: { ready: true, status: 'ok', problems: [] } });
  });
});

describe('liveness', () => {
  it('says degraded while chain writes fail, without turning unready, until one succeeds', async () => {
    const s = await start();
    s.faults.appendFails = true;
    await s.chat('auto'); // its chain entries cannot be written
    const live = await probe(s.url, '/health');
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('degraded');
    expect(codes(live.body)).toEqual(['chain_store_failing']);
    expect(live.body.problems[0].message).toBe('the last chain write failed (StoreWriteError) and none succeeded since');
    // Readiness does not depend on it: traffic is what would show the store works again.
    expect((await probe(s.url, '/ready')).status).toBe(200);
    s.faults.appendFails = false;
    expect((await s.chat('auto')).status).toBe(200);
    expect((await probe(s.url, '/health')).body).toMatchObject({ status: 'ok', problems: [] });
  });

  it('says degraded while a store call of the crash-recovery sweep fails', async () => {
    const s = await start();
    s.faults.listPendingFails = true;
    await expect(s.a.app.recovery.sweep()).rejects.toThrow('timeout');
    const live = await probe(s.url, '/health');
    expect(live.body.status).toBe('degraded');
    expect(codes(live.body)).toEqual(['recovery_failing']);
    expect(live.body.problems[0].message).toMatch(/^the last crash-recovery sweep had a store call fail \(StoreTimeoutError\)/);
    expect((await probe(s.url, '/ready')).status).toBe(200);
    s.faults.listPendingFails = false;
    await s.a.app.recovery.sweep();
    expect((await probe(s.url, '/health')).body).toMatchObject({ status: 'ok', problems: [] });
  });

  it('forgets a recovery failure once a sweep runs clean, even when the failing call has nothing left to do', async () => {
    const s = await start();
    const { store } = s.a.app;
    // A decision abandoned a day ago by a crashed process: the sweep claims it (updateIfPending).
    const id = 'dec-abandoned-health';
    await store.decisions.insert({
      id, agentId: s.agentId, createdAt: new Date(Date.now() - 86_400_000).toISOString(), taskType: 'chat', model: null, provider: null,
      outcome: 'pending', holdMicros: 0, costMicros: 0, latencyMs: null, idempotencyKey: null, chainSeqs: [], detail: null, feedback: null,
    });
    s.faults.claimFails = true;
    await s.a.app.recovery.sweep(); // the claim fails; the sweep logs it and goes on
    const failing = await probe(s.url, '/health');
    expect(codes(failing.body)).toEqual(['recovery_failing']);
    expect(failing.body.problems[0].message).toMatch(/^the last crash-recovery sweep had a store call fail \(StoreWriteError\)/);
    // Someone else settles it meanwhile: the next sweep has nothing to claim, so it never calls
    // updateIfPending again - and still its clean run is the new verdict.
    s.faults.claimFails = false;
    expect(await store.decisions.updateIfPending(id, { outcome: 'failed' })).not.toBeNull();
    await s.a.app.recovery.sweep();
    expect((await probe(s.url, '/health')).body).toMatchObject({ status: 'ok', problems: [] });
  });
});

describe('HealthMonitor (no server: states a whole server reaches only rarely)', () => {
  function monitor(ping: () => Promise<void>) {
    let now = 1_000_000;
    const appender = { size: 10, queued: 0, busy: false };
    const clock = () => now;
    const chainWatch = new ChainStoreWatch(clock);
    const m = new HealthMonitor({
      options: { storeCheckMs: 2_000, storeTimeoutMs: 500, chainStallMs: 10_000, readyRequiresServable: true },
      now: clock,
      store: { kind: 'mongodb', ping },
      appender,
      chainWatch,
      recoveryWatch: new RecoveryWatch(),
      offerings: () => [{ providerId: 'p', modelId: 'm' }],
      available: () => true,
      subscribers: () => 0,
      simulated: false,
    });
    return { m, appender, chainWatch, advance: (ms: number) => (now += ms), now: () => now };
  }

  it('calls events queued with no chain write started for chainStallMs a stall, and forgets it on progress', async () => {
    const t = monitor(async () => undefined);
    t.appender.queued = 3;
    expect((await t.m.check({ waitForStore: true })).ready).toBe(true); // first seen pending: not yet a stall
    t.advance(10_001);
    const r = await t.m.check({ waitForStore: true });
    expect(r.ready).toBe(false);
    expect(r.problems).toEqual([{ code: 'chain_stalled', message: '3 chain events have waited 10001 ms with no chain write', blocksReadiness: true }]);
    t.chainWatch.lastActivityAt = t.now(); // a write started: the clock starts again
    t.advance(5_000);
    expect((await t.m.check({ waitForStore: true })).ready).toBe(true);
    t.appender.queued = 0;
    t.advance(20_000);
    expect((await t.m.check({ waitForStore: true })).problems).toEqual([]);
  });

  it('calls a batch in the appender\'s hands (signing) with nothing queued behind it and no chain write a stall', async () => {
    const t = monitor(async () => undefined);
    t.appender.busy = true; // taken off the queue: queued is 0, and the store sees nothing
    expect((await t.m.check({ waitForStore: true })).ready).toBe(true); // being signed now is not a stall
    t.advance(10_001);
    const r = await t.m.check({ waitForStore: true });
    expect(r.problems).toEqual([{ code: 'chain_stalled', message: "a chain batch has been in the appender's hands (signing) for 10001 ms with no chain write", blocksReadiness: true }]);
    t.appender.busy = false; // acknowledged
    expect((await t.m.check({ waitForStore: true })).problems).toEqual([]);
  });

  it('counts a store read hanging past storeTimeoutMs as unreachable, without stacking reads on it', async () => {
    let reads = 0;
    const t = monitor(() => {
      reads++;
      return new Promise(() => undefined); // never answers
    });
    const first = await t.m.check({ waitForStore: false }); // liveness: never waits, nothing known yet
    expect(first.problems).toEqual([]);
    t.advance(500);
    const r = await t.m.check({ waitForStore: true });
    expect(r.problems.map((p) => [p.code, p.message])).toEqual([['store_unreachable', 'the mongodb store did not answer a ping (timeout)']]);
    await t.m.check({ waitForStore: true });
    expect(reads).toBe(1);
  });
});
