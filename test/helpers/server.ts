// One helper for every end-to-end test that needs a whole Ainfera server: the real composition root
// (src/server/app.ts) on 127.0.0.1 port 0, a real SQLite store in a temp dir, real signing keys, the
// simulated provider fleet (chaos off, fast) as the only stand-in, GraphQL over HTTP and WebSocket.
//
//   const s = await startTestServer();
//   const { apiKey } = await s.createAgent('alice', 1_000_000);
//   const r = await s.gql('{ me { balance { micros } } }', {}, { key: apiKey });
//   await s.close();
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { parseConfig, type Config } from '../../src/config.js';
import { readDemoKey, startAinfera, type Ainfera, type App, type StartOptions } from '../../src/server/app.js';
import type { Store } from '../../src/store/port.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestServerOptions {
  /** Share a data directory (e.g. with a second server); default: a fresh temp dir, removed on close. */
  dataDir?: string;
  /** Raw config fields merged over the test defaults (validated like a config file). */
  config?: Record<string, unknown>;
  /** Simulated fleet overrides (default: chaos off, timeScale 50). */
  fleet?: StartOptions['fleet'];
  /** Serve the trace page (bundles it; slower). Default false. */
  web?: boolean;
  /** Admin token put in the server's environment (null: none, admin disabled). */
  adminToken?: string | null;
  env?: Record<string, string>;
  wrapStore?: (store: Store) => Store;
  routerRandom?: () => number;
  /** Clock of the health checks (epoch ms): advance it past cache lifetimes and breaker cooldowns instead of sleeping. */
  opsClock?: () => number;
}

export interface GqlAuth {
  /** Agent API key (Authorization: Bearer). */
  key?: string;
  /** Send the admin token (Authorization: Bearer). */
  admin?: boolean;
  headers?: Record<string, string>;
}

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  body: { data?: T | null; errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[] };
}

export interface TestServer {
  readonly url: string;
  readonly graphqlUrl: string;
  readonly wsUrl: string;
  readonly dataDir: string;
  readonly ainfera: Ainfera;
  readonly app: App;
  readonly adminToken: string | null;
  /** The demo agent's key (created on first start). */
  readonly demoKey: string | null;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, auth?: GqlAuth): Promise<GqlResponse<T>>;
  /** Creates an agent through the admin mutation; returns its id and key. */
  createAgent(handle: string, creditMicros: number, policy?: unknown): Promise<{ id: string; apiKey: string }>;
  /** A graphql-ws client (no retries), closed with the server. */
  wsClient(connectionParams?: Record<string, unknown>): Client;
  close(): Promise<void>;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export function testConfig(dataDir: string, over: Record<string, unknown> = {}): Config {
  return parseConfig(
    merge(
      {
        listen: { host: '127.0.0.1', port: 0 },
        store: { kind: 'embedded', dataDir },
        chain: { checkpointIntervalMs: 100, origin: 'test.ainfera/chain' },
        simulatedFleet: { enabled: true, timeScale: 50, faults: false },
        routing: { exploration: 0 },
        log: { level: 'silent' },
      },
      over,
    ),
  );
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'ainfera-srv-'));
  const adminToken = opts.adminToken === undefined ? TEST_ADMIN_TOKEN : opts.adminToken;
  const env: NodeJS.ProcessEnv = { NODE_ENV: 'test', ...opts.env };
  if (adminToken !== null) env.AINFERA_ADMIN_TOKEN = adminToken;
  let ainfera: Ainfera;
  try {
    ainfera = await startAinfera(testConfig(dataDir, opts.config), {
      env,
      web: opts.web ?? false,
      fleet: { chaos: false, timeScale: 50, ...opts.fleet },
      signingWorkers: 0,
      ...(opts.wrapStore ? { wrapStore: opts.wrapStore } : {}),
      ...(opts.routerRandom ? { routerRandom: opts.routerRandom } : {}),
      ...(opts.opsClock ? { opsClock: opts.opsClock } : {}),
    });
  } catch (err) {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = ainfera.url;
  const graphqlUrl = `${url}/graphql`;
  const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
  const clients = new Set<Client>();

  async function gql<T>(query: string, variables: Record<string, unknown> = {}, auth: GqlAuth = {}): Promise<GqlResponse<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...auth.headers };
    if (auth.key) headers.authorization = `Bearer ${auth.key}`;
    if (auth.admin && adminToken) headers.authorization = `Bearer ${adminToken}`;
    const res = await fetch(graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    return { status: res.status, body: (await res.json()) as GqlResponse<T>['body'] };
  }

  return {
    url,
    graphqlUrl,
    wsUrl,
    dataDir,
    ainfera,
    app: ainfera.app,
    adminToken,
    demoKey: readDemoKey(dataDir),
    gql,
    async createAgent(handle, creditMicros, policy) {
      const r = await gql<{ createAgent: { __typename: string; apiKey?: string; agent?: { id: string }; message?: string } }>(
        `mutation($input: CreateAgentInput!) { createAgent(input: $input) { __typename ... on AgentCreated { apiKey agent { id } } ... on ValidationError { field message } } }`,
        { input: { handle, credit: { micros: creditMicros }, ...(policy !== undefined ? { policy } : {}) } },
        { admin: true },
      );
      const c = r.body.data?.createAgent;
      if (!c || c.__typename !== 'AgentCreated' || !c.apiKey || !c.agent) throw new Error(`createAgent failed: ${JSON.stringify(r.body)}`);
      return { id: c.agent.id, apiKey: c.apiKey };
    },
    wsClient(connectionParams) {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        ...(connectionParams ? { connectionParams } : {}),
      });
      clients.add(client);
      return client;
    },
    async close() {
      for (const c of clients) await c.dispose();
      await ainfera.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Collects a subscription's events until `until` says stop (or it errors/completes). */
export function subscribe<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): { events: T[]; errors: unknown[]; done: Promise<void>; stop: () => void; waitFor: (pred: (events: T[]) => boolean, timeoutMs?: number) => Promise<void> } {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters: (() => void)[] = [];
  let settle!: () => void;
  const done = new Promise<void>((r) => (settle = r));
  const poke = () => {
    for (const w of waiters.splice(0)) w();
  };
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(...v.errors);
        if (v.data) events.push(v.data as T);
        poke();
      },
      error: (e) => {
        errors.push(e);
        settle();
        poke();
      },
      complete: () => {
        settle();
        poke();
      },
    },
  );
  let finished = false;
  void done.then(() => (finished = true));
  async function waitFor(pred: (events: T[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(events)) {
      if (finished) throw new Error(`subscription ended before the condition held (${events.length} events, errors: ${JSON.stringify(errors)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting (${events.length} events, errors: ${JSON.stringify(errors)})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  return { events, errors, done, stop, waitFor };
}
