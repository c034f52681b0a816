// The server's safety and transport behaviour over real sockets: auth on HTTP and WebSocket, body, depth,
// cost and token limits (a rejected subscription must not close its socket), masked errors, GraphiQL only
// in development, the page mount, client-abort cancellation, and graceful shutdown.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Store } from '../../src/store/port.js';
import { openStore } from '../../src/store/index.js';
import { startTestServer, subscribe, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
let agentKey: string;
beforeAll(async () => {
  s = await startTestServer({ config: { api: { maxDepth: 6, maxCost: 150, maxBodyBytes: 100_000 } } });
  agentKey = (await s.createAgent('srv-agent', 5_000_000)).apiKey;
});
afterAll(async () => {
  await s?.close();
});

/** A raw graphql-transport-ws connection: resolves with the close code, or 'open' after the ack. */
function rawWs(url: string, payload: Record<string, unknown>): Promise<{ ws: WebSocket; code: number | 'acked' }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload })));
    ws.on('message', (m) => {
      if (JSON.parse(String(m)).type === 'connection_ack') resolve({ ws, code: 'acked' });
    });
    ws.once('close', (code) => resolve({ ws, code }));
    ws.once('error', reject);
  });
}

/** Resolves when the subscription ended; fails the test (instead of hanging) if it does not within 5 s. */
async function ended(done: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('subscription did not end')), 5_000)))]);
  clearTimeout(timer);
}

/** One raw HTTP/1.1 request, the body written as the given chunks (a chunked request when there are several). */
function rawHttp(
  url: string,
  method: string,
  headers: Record<string, string>,
  chunks: (string | Buffer)[] = [],
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.once('error', reject);
    });
    req.once('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('HTTP', () => {
  it('serves /health', async () => {
    const res = await fetch(`${s.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', simulated: true, store: 'embedded' });
  });

  it('refuses wrong credentials with 401 and anonymous private reads with UNAUTHENTICATED', async () => {
    const unknownKey = await s.gql('{ me { handle } }', {}, { key: `ak_${'A'.repeat(43)}` });
    expect(unknownKey.status).toBe(401);
    expect(unknownKey.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badBearer = await s.gql('{ chainHead { size } }', {}, { headers: { authorization: 'Bearer not-the-admin-token' } });
    expect(badBearer.status).toBe(401);
    const malformed = await s.gql('{ chainHead { size } }', {}, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(malformed.status).toBe(401);
    const badAdmin = await s.gql('{ chainHead { size } }', {}, { headers: { 'x-admin-token': 'nope' } });
    expect(badAdmin.status).toBe(401);
    const anonymous = await s.gql('{ me { handle } }');
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const asAgent = await s.gql('mutation { addCredit(agent: "srv-agent", amount: { usd: "1" }) { __typename } }', {}, { key: agentKey });
    expect(asAgent.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Public data needs no key.
    const pub = await s.gql<{ chainHead: { size: number } }>('{ chainHead { size } }');
    expect(pub.status).toBe(200);
    expect(typeof pub.body.data?.chainHead.size).toBe('number');
  });

  it('runs admin operations with the admin token (bearer or x-admin-token) and shows the key once', async () => {
    const created = await s.gql<{ createAgent: Json }>(
      'mutation { createAgent(input: { handle: "srv-admin-made", credit: { usd: "2.5" } }) { __typename ... on AgentCreated { apiKey agent { handle balance { micros usd } } } } }',
      {},
      { headers: { 'x-admin-token': s.adminToken! } },
    );
    expect(created.body.data?.createAgent).toMatchObject({ __typename: 'AgentCreated', agent: { handle: 'srv-admin-made', balance: { micros: 2_500_000, usd: '2.500000' } } });
    const key = created.body.data!.createAgent.apiKey as string;
    const me = await s.gql<{ me: Json }>('{ me { handle balance { micros } policy } }', {}, { key });
    expect(me.body.data?.me).toEqual({ handle: 'srv-admin-made', balance: { micros: 2_500_000 }, policy: null });
    const credit = await s.gql<{ addCredit: Json }>(
      'mutation { addCredit(agent: "srv-admin-made", amount: { micros: 500000 }) { __typename ... on AgentUpdated { agent { balance { micros } } } } }',
      {},
      { admin: true },
    );
    expect(credit.body.data?.addCredit).toEqual({ __typename: 'AgentUpdated', agent: { balance: { micros: 3_000_000 } } });
    const policy = await s.gql<{ setPolicy: Json }>(
      'mutation($p: JSON) { setPolicy(agent: "srv-admin-made", policy: $p) { __typename ... on AgentUpdated { agent { policy } } ... on ValidationError { field } } }',
      { p: { caps: { costCeilingMicros: 1000 } } },
      { admin: true },
    );
    expect(policy.body.data?.setPolicy).toMatchObject({ __typename: 'AgentUpdated', agent: { policy: { caps: { costCeilingMicros: 1000 } } } });
    const badPolicy = await s.gql<{ setPolicy: Json }>(
      'mutation($p: JSON) { setPolicy(agent: "srv-admin-made", policy: $p) { __typename ... on ValidationError { field } } }',
      { p: { caps: { costCeilingMicros: -1 } } },
      { admin: true },
    );
    expect(badPolicy.body.data?.setPolicy).toEqual({ __typename: 'ValidationError', field: 'policy.caps.costCeilingMicros' });
    const dup = await s.gql<{ createAgent: Json }>('mutation { createAgent(input: { handle: "srv-admin-made" }) { __typename ... on ValidationError { field } } }', {}, { admin: true });
    expect(dup.body.data?.createAgent).toEqual({ __typename: 'ValidationError', field: 'input.handle' });
    const missing = await s.gql<{ addCredit: Json }>('mutation { addCredit(agent: "nobody-here", amount: { usd: "1" }) { __typename } }', {}, { admin: true });
    expect(missing.body.data?.addCredit).toEqual({ __typename: 'AgentNotFound' });
  });

  it('refuses an oversized body with 413', async () => {
    const big = JSON.stringify({ query: `{ chainHead { size } } # ${'x'.repeat(120_000)}` });
    const res = await fetch(s.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(res.status).toBe(413);
    expect(((await res.json()) as Json).errors[0].extensions.code).toBe('BODY_TOO_LARGE');
  });

  it('refuses too-deep and too-costly queries as validation errors, naming the limit', async () => {
    const deep = await s.gql('{ decisions { edges { node { chainEntries { inclusionProof { checkpoint { size } } } } } } }', {}, { key: agentKey });
    expect(deep.body.data ?? null).toBeNull();
    expect(deep.body.errors?.[0]?.message).toMatch(/depth limit of 6/);
    const costly = await s.gql(`{ ${Array.from({ length: 20 }, (_, i) => `m${i}: models { id name vendor offerings { provider price { source } } }`).join(' ')} }`);
    expect(costly.body.data ?? null).toBeNull();
    expect(costly.body.errors?.[0]?.message).toMatch(/[Cc]ost/);
  });

  it('masks unexpected errors (no internal message leaks) but keeps expected ones', async () => {
    const secret = 'db password=hunter2';
    const leaky = await startTestServer({
      wrapStore: (store: Store): Store => ({
        ...store,
        kind: store.kind,
        chain: store.chain,
        accounts: store.accounts,
        stats: store.stats,
        close: () => store.close(),
        decisions: { ...store.decisions, list: () => Promise.reject(new Error(secret)), insert: (d) => store.decisions.insert(d), update: (id, p) => store.decisions.update(id, p), byIds: (ids) => store.decisions.byIds(ids), byIdempotencyKey: (a, k) => store.decisions.byIdempotencyKey(a, k) },
      }),
      env: { NODE_ENV: 'production' },
    });
    try {
      const r = await leaky.gql('{ decisions(first: 1) { edges { cursor } } }', {}, { admin: true });
      expect(JSON.stringify(r.body)).not.toContain('hunter2');
      expect(r.body.errors?.[0]?.message).toBe('Unexpected error.');
      // GraphiQL is off in production.
      const page = await fetch(leaky.graphqlUrl, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toMatch(/graphiql/i);
    } finally {
      await leaky.close();
    }
  });

  it('serves a bundled GraphiQL in development, with no CDN', async () => {
    const res = await fetch(s.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/graphiql/i);
    expect(html).not.toMatch(/unpkg\.com|cdn\.jsdelivr|esm\.sh/);
  });

  it('reads a chunked body of several writes, multi-byte UTF-8 split across them', async () => {
    // The parse error names the character it met: U+2713 only if its three bytes were joined back.
    const body = Buffer.from(JSON.stringify({ query: '{ chainHead ✓ }' }));
    const at = body.indexOf(Buffer.from('✓')) + 1;
    const res = await rawHttp(s.graphqlUrl, 'POST', { 'content-type': 'application/json' }, [body.subarray(0, at), body.subarray(at)]);
    expect(res.status).toBe(200);
    expect(((JSON.parse(res.body) as Json).errors[0].message as string)).toMatch(/U\+2713/);
  });

  it('reads a body just under the limit whole', async () => {
    // Validation names the unknown field, so the answer quotes back all 90,000 characters of its name.
    const name = `f${'h'.repeat(89_990)}`;
    const body = JSON.stringify({ query: `{ ${name} }` });
    expect(Buffer.byteLength(body)).toBeLessThan(100_000);
    const res = await rawHttp(s.graphqlUrl, 'POST', { 'content-type': 'application/json' }, [body.slice(0, 40_000), body.slice(40_000)]);
    expect(res.status).toBe(200);
    expect(((JSON.parse(res.body) as Json).errors[0].message as string)).toBe(`Cannot query field "${name}" on type "Query".`);
  });

  it('refuses a chunked body (no content-length) once it passes the limit, and keeps serving', async () => {
    const piece = `{"query":"{ chainHead { size } }","pad":"${'x'.repeat(60_000)}`;
    const res = await rawHttp(s.graphqlUrl, 'POST', { 'content-type': 'application/json' }, [piece, 'x'.repeat(60_000), '"}']);
    expect(res.status).toBe(413);
    expect(((JSON.parse(res.body) as Json).errors[0].extensions.code as string)).toBe('BODY_TOO_LARGE');
    const after = await s.gql<{ chainHead: { size: number } }>('{ chainHead { size } }');
    expect(typeof after.body.data?.chainHead.size).toBe('number');
  });

  it('answers an empty POST body as invalid JSON (400) instead of waiting for a body already read', async () => {
    const res = await rawHttp(s.graphqlUrl, 'POST', { 'content-type': 'application/json', 'content-length': '0' });
    expect(res.status).toBe(400);
    expect(((JSON.parse(res.body) as Json).errors[0].message as string)).toMatch(/invalid JSON/);
  });

  it('serves queries by GET, refuses mutations by GET, and answers HEAD without a body', async () => {
    const get = await rawHttp(`${s.graphqlUrl}?query=${encodeURIComponent('{ chainHead { size } }')}`, 'GET', { accept: 'application/json' });
    expect(get.status).toBe(200);
    expect(((JSON.parse(get.body) as Json).data.chainHead.size as number)).toBeGreaterThanOrEqual(0);
    const mutation = await rawHttp(`${s.graphqlUrl}?query=${encodeURIComponent('mutation { createAgent(input: { handle: "by-get" }) { __typename } }')}`, 'GET', {});
    expect(mutation.status).toBe(405);
    const head = await rawHttp(`${s.graphqlUrl}?query=${encodeURIComponent('{ chainHead { size } }')}`, 'HEAD', {});
    expect(head.body).toBe('');
    expect(head.status).toBe(405);
  });

  it('streams a subscription over HTTP as server-sent events', async () => {
    const u = new URL(s.graphqlUrl);
    let req: ReturnType<typeof httpRequest> | undefined;
    const firstEvent = new Promise<{ type: string | undefined; text: string }>((resolve, reject) => {
      req = httpRequest(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString('utf8');
            if (text.includes('event: next')) resolve({ type: res.headers['content-type'], text });
          });
          res.once('error', () => undefined);
        },
      );
      req.once('error', reject);
      req.end(JSON.stringify({ query: 'subscription { chainEvents(fromSeq: 0) { seq } }' }));
    });
    try {
      // A routed call appends to the chain, so at least one event comes whatever the chain held before.
      await s.gql('mutation($i: RouteInput!) { route(input: $i) { __typename } }', { i: { messages: [{ role: 'USER', content: 'sse' }], maxOutputTokens: 16 } }, { key: agentKey });
      let timer: NodeJS.Timeout | undefined;
      const got = await Promise.race([firstEvent, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no event within 5 s')), 5_000)))]);
      clearTimeout(timer);
      expect(got.type).toMatch(/^text\/event-stream/);
      expect(got.text).toMatch(/event: next\ndata: \{"data":\{"chainEvents":\{"seq":0\}\}\}/);
    } finally {
      req?.destroy();
    }
  });

  it('404s unknown paths', async () => {
    const res = await fetch(`${s.url}/nope`);
    expect(res.status).toBe(404);
  });
});

describe('WebSocket', () => {
  it('authenticates from connectionParams: a bad key closes with 4403, a good one acks', async () => {
    const bad = await rawWs(s.wsUrl, { authorization: `Bearer ak_${'B'.repeat(43)}` });
    expect(bad.code).toBe(4403);
    const good = await rawWs(s.wsUrl, { authorization: `Bearer ${agentKey}` });
    expect(good.code).toBe('acked');
    good.ws.close();
    const anon = await rawWs(s.wsUrl, {});
    expect(anon.code).toBe('acked');
    anon.ws.close();
  });

  it('answers private queries over the socket as the connected agent', async () => {
    const client = s.wsClient({ authorization: `Bearer ${agentKey}` });
    const res = await new Promise<Json>((resolve, reject) => {
      client.subscribe({ query: '{ me { handle } }' }, { next: (v) => resolve(v as Json), error: reject, complete: () => undefined });
    });
    expect(res.data).toEqual({ me: { handle: 'srv-agent' } });
  });

  it('rejects a too-deep or unparsable subscription with an error for that operation only; the socket stays open', async () => {
    const client = s.wsClient();
    let closed = false;
    let connects = 0;
    client.on('closed', () => {
      closed = true;
    });
    client.on('connected', () => {
      connects++;
    });
    // Keeps the (lazy) client's one socket open across the rejected operations.
    const keepAlive = subscribe(client, 'subscription { chainEvents { seq } }');
    const deep = subscribe(client, 'subscription { chainEvents(fromSeq: 0) { envelope { ... on ChainEntry { inclusionProof { ... on InclusionProof { checkpoint { height } } } } } } }');
    await ended(deep.done);
    expect(JSON.stringify(deep.errors)).toMatch(/depth limit|Cost|cost/);
    const huge = subscribe(client, `subscription { chainEvents { ${'seq '.repeat(6000)} } }`);
    await ended(huge.done);
    expect(JSON.stringify(huge.errors)).toMatch(/[Tt]oken/);
    const broken = subscribe(client, 'subscription { chainEvents { ');
    await ended(broken.done);
    expect(broken.errors.length).toBeGreaterThan(0);
    // Same connection, a valid subscription still works.
    const ok = subscribe<{ chainEvents: { seq: number } }>(client, 'subscription { chainEvents(fromSeq: 0) { seq } }');
    await s.gql('mutation($i: RouteInput!) { route(input: $i) { __typename } }', { i: { messages: [{ role: 'USER', content: 'ws alive' }], maxOutputTokens: 16 } }, { key: agentKey });
    await ok.waitFor((ev) => ev.length > 0);
    ok.stop();
    expect(closed).toBe(false);
    expect(connects).toBe(1);
    keepAlive.stop();
  });
});

describe('cancellation and shutdown', () => {
  it('aborts the provider call when the HTTP client goes away', async () => {
    const srv = await startTestServer();
    try {
      const { apiKey, id } = await srv.createAgent('srv-abort', 5_000_000);
      const req = { messages: [{ role: 'user' as const, content: 'slow one' }], maxOutputTokens: 64, pin: { model: 'glm-4.6' } };
      const plan = srv.app.router.plan(req, { now: Date.now() });
      if (!plan.ok) throw new Error('plan');
      const rules = plan.attempts.map((c) => srv.app.fleet!.inject({ providerId: c.providerId, model: c.upstreamModel, fault: { kind: 'slow_first_token', delayMs: 5_000 } }));
      const ctrl = new AbortController();
      const pending = fetch(srv.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ query: 'mutation($i: RouteInput!) { route(input: $i) { __typename } }', variables: { i: { messages: [{ role: 'USER', content: 'slow one' }], maxOutputTokens: 64, pin: { model: 'glm-4.6' } } } }),
        signal: ctrl.signal,
      }).catch(() => null);
      const deadline = Date.now() + 5_000;
      while (srv.app.fleet!.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      ctrl.abort();
      await pending;
      // The decision ends as failed (aborted) well before the 5 s first token, and the hold comes back.
      let outcome = 'pending';
      while (outcome === 'pending' && Date.now() - started < 4_000) {
        const page = await srv.app.store.decisions.list({ agentId: id }, 1);
        outcome = page.items[0]?.outcome ?? 'pending';
        if (outcome === 'pending') await new Promise((r) => setTimeout(r, 25));
      }
      expect(outcome).toBe('failed');
      // The provider had the request, so its estimated input is billed (within the hold); the rest comes back.
      const [d] = (await srv.app.store.decisions.list({ agentId: id }, 1)).items;
      expect(d!.costMicros).toBeLessThanOrEqual(d!.holdMicros);
      const [agent] = await srv.app.store.accounts.agentsByIds([id]);
      expect(agent?.balanceMicros).toBe(5_000_000 - d!.costMicros);
      for (const r of rules) r.remove();
    } finally {
      await srv.close();
    }
  });

  it('shuts down gracefully: in-flight calls finish, the chain is flushed, subscribers are closed with 1001', async () => {
    const srv = await startTestServer();
    const dataDir = srv.dataDir;
    let reopened: Store | null = null;
    try {
      const { apiKey, id } = await srv.createAgent('srv-shutdown', 5_000_000);
      const plan = srv.app.router.plan({ messages: [{ role: 'user', content: 'x' }], maxOutputTokens: 32, pin: { model: 'glm-4.6' } }, { now: Date.now() });
      if (!plan.ok) throw new Error('plan');
      for (const c of plan.attempts) srv.app.fleet!.inject({ providerId: c.providerId, model: c.upstreamModel, fault: { kind: 'slow_first_token', delayMs: 400 } });

      const ws = await rawWs(srv.wsUrl, {});
      expect(ws.code).toBe('acked');
      const received: Json[] = [];
      ws.ws.on('message', (m) => received.push(JSON.parse(String(m)) as Json));
      ws.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { chainEvents(fromSeq: 0) { seq } }' } }));
      const closeCode = new Promise<number>((r) => ws.ws.once('close', (code) => r(code)));

      const call = srv.gql<{ route: Json }>(
        'mutation($i: RouteInput!) { route(input: $i) { __typename ... on RouteSuccess { chainSeqs } } }',
        { i: { messages: [{ role: 'USER', content: 'finish me' }], maxOutputTokens: 32, pin: { model: 'glm-4.6' } } },
        { key: apiKey },
      );
      while (srv.app.fleet!.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
      const closing = srv.ainfera.close();
      const r = await call;
      expect(r.body.data?.route.__typename).toBe('RouteSuccess');
      expect(await closeCode).toBe(1001);
      await closing;
      // The subscriber got every entry of the call that finished during shutdown, then a clean complete.
      const seen = received.filter((m) => m.type === 'next').map((m) => m.payload.data.chainEvents.seq as number);
      expect(seen).toEqual(expect.arrayContaining(r.body.data!.route.chainSeqs as number[]));
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));
      expect(received.at(-1)).toEqual({ id: '1', type: 'complete' });
      // New connections are refused once closed.
      await expect(fetch(`${srv.url}/health`)).rejects.toThrow();

      reopened = await openStore({ kind: 'embedded', dataDir });
      const page = await reopened.decisions.list({ agentId: id }, 5);
      expect(page.items[0]?.outcome).toBe('completed');
      const seqs = r.body.data!.route.chainSeqs as number[];
      const stored = await reopened.chain.entries(seqs[0]!, seqs.length);
      expect(stored.map((e) => e.seq)).toEqual(seqs);
    } finally {
      await reopened?.close();
      await srv.close();
    }
  });
});
