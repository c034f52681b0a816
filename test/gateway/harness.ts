// The whole call path wired as the server does, for the gateway and OpenAI-endpoint tests: a real
// SQLite store in a temp dir, real signing keys and appender, the real catalog, signals, router and
// fallback executor, real adapters talking over loopback to the simulated fleet (the only fake: it stands
// in for LLM providers and speaks their wire protocol), and a real node:http server with the routes.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccounts, type Accounts } from '../../src/accounts/accounts.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { ChainAppender } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import { createGateway } from '../../src/gateway/gateway.js';
import type { Gateway } from '../../src/gateway/types.js';
import { OpenAICompatibleAdapter } from '../../src/providers/openai-compatible.js';
import { ProviderPools } from '../../src/providers/pool.js';
import { simModelsFromOfferings, startSimFleet, type SimFleet } from '../../src/providers/sim-fleet.js';
import { Executor, type ExecutionLimits } from '../../src/routing/execute.js';
import { Router, seededRandom } from '../../src/routing/router.js';
import { Signals } from '../../src/routing/signals.js';
import type { RouteRequest, RoutingPolicy } from '../../src/routing/types.js';
import { createOpenAIRoutes } from '../../src/server/openai-routes.js';
import { openStore } from '../../src/store/index.js';
import type { AgentRecord, DecisionRecord, Store } from '../../src/store/port.js';

export const ADMIN_TOKEN = 'test-admin-token';

export interface Harness {
  dir: string;
  store: Store;
  appender: ChainAppender;
  catalog: Catalog;
  signals: Signals;
  router: Router;
  /** The real fallback executor the gateway calls (tests build gateways around it with other deps). */
  executor: Executor;
  fleet: SimFleet;
  gateway: Gateway;
  accounts: Accounts;
  /** http://127.0.0.1:PORT/v1 */
  baseURL: string;
  /** Creates an agent with this much credit; returns its record (fresh from the store) and key. */
  agent(handle: string, creditMicros: number, policy?: unknown): Promise<{ record: AgentRecord; apiKey: string }>;
  balance(agentId: string): Promise<number>;
  /** Every stored chain entry's canonical text, in seq order. */
  chainText(): Promise<string[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  maxBodyBytes?: number;
  limits?: Partial<ExecutionLimits>;
  defaultAgentPolicy?: RoutingPolicy;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'ainfera-gw-'));
  const store = await openStore({ kind: 'embedded', dataDir: dir });
  const keys = loadSigningKeys({ dataDir: dir, create: true, env: {}, origin: 'test.ainfera/chain' });
  const appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 0, signingWorkers: 0 });
  const catalog = new Catalog();
  // Fast simulated time, no random chaos: failures in these tests are the ones they inject.
  const fleet = await startSimFleet({ models: simModelsFromOfferings(catalog.offerings()), chaos: false, timeScale: 200, seed: 7 });
  const signals = new Signals(catalog);
  const router = new Router({ catalog, signals, defaults: { exploration: 0 }, random: seededRandom(1) });
  const pools = new ProviderPools();
  const adapters = new Map<string, OpenAICompatibleAdapter>();
  for (const p of catalog.providers()) {
    adapters.set(p.id, new OpenAICompatibleAdapter({ providerId: p.id, baseUrl: fleet.baseUrl(p.id), apiKey: 'simulated', pools }));
  }
  const executor = new Executor({
    adapters,
    signals,
    catalog,
    limits: { backoffBaseMs: 5, backoffMaxMs: 20, maxRetryAfterWaitMs: 50, ...opts.limits },
  });
  const gateway = createGateway({
    store,
    appender,
    router,
    signals,
    execute: executor.execute,
    simulatedProviders: new Set(fleet.providers()),
    ...(opts.defaultAgentPolicy ? { defaultAgentPolicy: opts.defaultAgentPolicy } : {}),
  });
  const env = { AINFERA_ADMIN_TOKEN: ADMIN_TOKEN };
  const accounts = createAccounts({ store, adminTokenEnv: 'AINFERA_ADMIN_TOKEN', env });
  const routes = createOpenAIRoutes({
    gateway,
    authenticate: (k) => accounts.authenticate(k),
    catalog,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
  });
  const server = http.createServer((req, res) => {
    routes(req, res)
      .then((handled) => {
        if (!handled) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":{"message":"not found"}}');
        }
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    dir,
    store,
    appender,
    catalog,
    signals,
    router,
    executor,
    fleet,
    gateway,
    accounts,
    baseURL: `http://127.0.0.1:${port}/v1`,
    async agent(handle, creditMicros, policy) {
      const { agent, apiKey } = await accounts.createAgent(ADMIN_TOKEN, { handle, creditMicros, policy });
      const [record] = await store.accounts.agentsByIds([agent.id]);
      return { record: record!, apiKey };
    },
    async balance(agentId) {
      const [a] = await store.accounts.agentsByIds([agentId]);
      return a!.balanceMicros;
    },
    async chainText() {
      const out: string[] = [];
      for (let from = 0; ; from += 1000) {
        const page = await store.chain.entries(from, 1000);
        out.push(...page.map((e) => e.canonical));
        if (page.length < 1000) return out;
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.drain();
      await fleet.close();
      await pools.close();
      await appender.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small chat request; `marker` is a unique string to look for where prompt text must never appear. */
export function chat(text: string, extra: Partial<RouteRequest> = {}): RouteRequest {
  return { messages: [{ role: 'user', content: text }], maxOutputTokens: 64, ...extra };
}

export function parsedCanonical(lines: string[]): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A decision as a call writes it when it starts (pending, nothing held yet): fixtures for crash and race tests. */
export function pendingDecision(id: string, agentId: string, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id,
    agentId,
    createdAt: new Date().toISOString(),
    taskType: 'chat',
    model: null,
    provider: null,
    outcome: 'pending',
    holdMicros: 0,
    costMicros: 0,
    latencyMs: null,
    idempotencyKey: null,
    chainSeqs: [],
    detail: { v: 1, requestHash: `0x${'ab'.repeat(32)}`, decision: null, message: null, result: null },
    feedback: null,
    ...over,
  };
}
