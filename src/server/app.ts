// The composition root: from a Config, build every part of one Ainfera process and wire them together.
//   store → signing keys → chain appender + proof service → catalog (+ simulated fleet when configured)
//   → signals + router → provider adapters → fallback executor → accounts → gateway → API deps
// Nothing else constructs these; tests build the same graph through createApp (test/helpers/server.ts).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createAccounts, type Accounts } from '../accounts/accounts.js';
import { generateApiKey, hashApiKey } from '../accounts/keys.js';
import { ChainFeed } from '../api/feed.js';
import type { ApiDeps, ModelsView, ModelSnapshot, ProviderSnapshot } from '../api/ports.js';
import { Catalog, defaultProviderConfigs, startPriceSync, type PriceSync } from '../catalog/index.js';
import type { ProviderConfig as CatalogProviderConfig } from '../catalog/types.js';
import { ChainAppender } from '../chain/appender.js';
import { loadSigningKeys, type ChainKeys } from '../chain/keys.js';
import { ProofService } from '../chain/proofs.js';
import { secretFromEnv, type Config } from '../config.js';
import { createGateway } from '../gateway/gateway.js';
import { RECOVERY_MARGIN_MS, startRecovery, type RecoveryLoop } from '../gateway/recovery.js';
import type { ExecuteFn } from '../gateway/execute-port.js';
import type { Gateway } from '../gateway/types.js';
import { logger } from '../log.js';
import { AdapterRegistry } from '../providers/registry.js';
import { simModelsFromOfferings, startSimFleet, type SimFleet } from '../providers/sim-fleet.js';
import { createExecutor } from '../routing/execute.js';
import { Router, Signals, TASK_TYPES, type SignalsState } from '../routing/index.js';
import { openStore, StoreConflictError, type Store } from '../store/index.js';
import { createAuditHandler } from './audit-routes.js';
import { createOpenAIRoutes } from './openai-routes.js';
import { Ops } from './ops.js';
import { startServer, type RunningServer } from './server.js';

export const DEMO_HANDLE = 'demo';
export const DEMO_KEY_FILE = 'demo-agent.key';

export interface AppOptions {
  env?: NodeJS.ProcessEnv;
  /** Start the simulated fleet with these overrides (tests: chaos off, a high timeScale). */
  fleet?: { chaos?: false; timeScale?: number; seed?: number };
  /** Seeded exploration for reproducible tests (0 turns exploration off). */
  routerRandom?: () => number;
  /** Chain signing worker threads (default: the appender's choice; tests use 0). */
  signingWorkers?: number;
  /** Wraps the opened store (tests count store calls through it). */
  wrapStore?: (store: Store) => Store;
  /** Crash-recovery sweep interval (default RECOVERY_EVERY_MS). */
  recoveryEveryMs?: number;
  /** Clock of the health checks, epoch ms (tests advance it past cache lifetimes and breaker cooldowns). */
  opsClock?: () => number;
}

export interface DemoAgentInfo {
  handle: string;
  keyFile: string;
  /** Only when the agent was created by this start (printed once, never again). */
  apiKey: string | null;
  /** False when the agent exists but its key file is gone. */
  keyFilePresent: boolean;
}

export interface App {
  readonly config: Config;
  readonly dataDir: string;
  readonly store: Store;
  readonly keys: ChainKeys;
  readonly appender: ChainAppender;
  readonly proofs: ProofService;
  readonly catalog: Catalog;
  readonly signals: Signals;
  readonly router: Router;
  readonly adapters: AdapterRegistry;
  /** The simulated fleet, when it runs (clearly labelled simulated on every surface). */
  readonly fleet: SimFleet | null;
  readonly simulatedProviders: ReadonlySet<string>;
  readonly accounts: Accounts;
  readonly gateway: Gateway;
  /** Gives back holds of decisions a crashed process left pending (runs at start and periodically). */
  readonly recovery: RecoveryLoop;
  readonly feed: ChainFeed;
  readonly api: ApiDeps;
  readonly demo: DemoAgentInfo | null;
  /** Health, readiness and metrics (src/server/ops.ts). */
  readonly ops: Ops;
  /** Finish in-flight calls and make the chain durable (call before closing subscribers). */
  drain(): Promise<void>;
  /** Drain, then close everything this app opened. Idempotent. */
  close(): Promise<void>;
}

/** auto: the fleet runs only when no real provider is usable (the default run needs no keys). */
function fleetEnabled(config: Config, realProviders: number): boolean {
  const e = config.simulatedFleet.enabled;
  return e === 'auto' ? realProviders === 0 : e;
}

/**
 * Real providers from the operator config, in the catalog's shape. A provider that names an API-key
 * environment variable switches on only when that variable is set (a host without a key would only
 * answer 401s); one without apiKeyEnv (a local endpoint) is always on.
 */
function configuredProviders(config: Config, env: NodeJS.ProcessEnv): CatalogProviderConfig[] {
  const usable = config.providers.filter((p) => {
    if (!p.apiKeyEnv || secretFromEnv(p.apiKeyEnv, env) !== undefined) return true;
    logger.warn({ provider: p.id, apiKeyEnv: p.apiKeyEnv }, 'provider configured but its API-key environment variable is unset: skipped');
    return false;
  });
  return usable.map((p) => ({
    id: p.id,
    kind: p.kind,
    baseUrl: p.baseUrl,
    ...(p.apiKeyEnv ? { apiKeyEnv: p.apiKeyEnv } : {}),
    pricesFrom: p.pricesFrom,
    priceRefreshMs: p.priceRefreshMs,
    models: Object.fromEntries(
      Object.entries(p.models).map(([id, m]) => [
        id,
        {
          upstream: m.upstream,
          ...(m.inputPerMTokMicros !== undefined ? { inputPerMTokMicros: m.inputPerMTokMicros } : {}),
          ...(m.outputPerMTokMicros !== undefined ? { outputPerMTokMicros: m.outputPerMTokMicros } : {}),
        },
      ]),
    ),
  }));
}

/** Catalog + live signals as the API reads them. */
function modelsView(catalog: Catalog, signals: Signals, simulated: ReadonlySet<string>, env: NodeJS.ProcessEnv): ModelsView {
  return {
    models(now: number): ModelSnapshot[] {
      const byModel = new Map<string, ModelSnapshot>();
      for (const m of catalog.models()) byModel.set(m.id, { info: m, offerings: [], outcomes: [] });
      const minSamples = signals.latencyOptions.minSamples;
      for (const o of catalog.offerings()) {
        const snap = byModel.get(o.modelId);
        if (!snap) continue;
        const slot = signals.slot(o.providerId, o.modelId);
        const s = slot.latency.size > 0 ? slot.latency.stats(now) : null;
        const measured = s !== null && s.n >= minSamples;
        snap.offerings.push({
          providerId: o.providerId,
          upstreamModel: o.upstreamModel,
          price: o.price,
          simulated: simulated.has(o.providerId),
          breaker: signals.breakerState(o.modelId, o.providerId, now),
          latency: {
            p50Ms: measured ? s.totalP50 : null,
            p95Ms: measured ? s.totalP95 : null,
            ttftP50Ms: measured ? s.ttftP50 : o.defaultTtftMs,
            ttftP95Ms: measured ? s.ttftP95 : null,
            tokensPerSecond: measured && s.nSpeed >= minSamples ? s.tpsP50 : o.referenceOutputTokensPerSecond,
            samples: slot.latency.size,
            source: measured ? 'measured' : 'reference',
          },
        });
      }
      for (const snap of byModel.values()) {
        for (const t of TASK_TYPES) {
          const cell = signals.outcomes.peek(t, snap.info.id) ?? signals.outcomes.cell(t, snap.info);
          snap.outcomes.push({
            taskType: t,
            calls: cell.observations,
            successes: Math.round(cell.successes),
            finishProbability: cell.mean,
          });
        }
      }
      return [...byModel.values()].filter((m) => m.offerings.length > 0);
    },
    providers(): ProviderSnapshot[] {
      return catalog.providers().map((p) => ({
        id: p.id,
        simulated: simulated.has(p.id),
        pricesFrom: p.pricesFrom ?? 'config',
        models: Object.keys(p.models),
        keyConfigured: simulated.has(p.id) || p.apiKeyEnv === undefined || secretFromEnv(p.apiKeyEnv, env) !== undefined,
      }));
    },
  };
}

/**
 * The demo agent of the default run: created on the first start with config.demo.creditMicros, its key
 * written once to <dataDir>/demo-agent.key (0600). Later starts only say where the key file is.
 */
async function ensureDemoAgent(store: Store, dataDir: string, creditMicros: number): Promise<DemoAgentInfo> {
  const keyFile = join(dataDir, DEMO_KEY_FILE);
  const existing = await store.accounts.agentByHandle(DEMO_HANDLE);
  if (existing) return { handle: DEMO_HANDLE, keyFile, apiKey: null, keyFilePresent: existsSync(keyFile) };
  const apiKey = generateApiKey();
  try {
    await store.accounts.createAgent({
      id: `ag_${randomUUID().replace(/-/g, '')}`,
      handle: DEMO_HANDLE,
      keyHash: hashApiKey(apiKey),
      balanceMicros: creditMicros,
      policy: null,
      createdAt: new Date().toISOString(),
    });
  } catch (err) {
    // Another process on this data directory created it first: its key file is the one.
    if (err instanceof StoreConflictError) return { handle: DEMO_HANDLE, keyFile, apiKey: null, keyFilePresent: existsSync(keyFile) };
    throw err;
  }
  await writeFile(keyFile, `${apiKey}\n`, { mode: 0o600, flag: 'w' });
  return { handle: DEMO_HANDLE, keyFile, apiKey, keyFilePresent: true };
}

export const SIGNALS_SYNC_MS = 5_000;
export const RECOVERY_EVERY_MS = 60_000;

/**
 * Live signals shared through the store at a coarse interval (DESIGN.md "Scale"): every instance writes its
 * latency/breaker/outcome state under a per-host key and merges everyone's (merge is idempotent: samples are
 * de-duplicated, the better-sampled outcome cell wins, the longer-open breaker wins). Also a warm start.
 */
function startSignalsSync(store: Store, signals: Signals, key: string): { flush(): Promise<void>; stop(): void } {
  let running: Promise<void> | null = null;
  const once = () =>
    (running ??= (async () => {
      try {
        const now = Date.now();
        for (const doc of await store.stats.list('signals/')) {
          // Our own key too: instances that share a key (same host and configured port) merge before
          // they write, so the document converges on the union instead of the last writer's view.
          if (now - Date.parse(doc.updatedAt) > 60 * 60_000) continue;
          try {
            signals.importState(doc.value as SignalsState, { mode: 'merge', now });
          } catch (err) {
            logger.warn({ err, key: doc.key }, 'ignoring unreadable shared signals');
          }
        }
        await store.stats.put(key, signals.exportState(now));
      } catch (err) {
        logger.warn({ err }, 'signals sync failed (routing goes on with local signals)');
      } finally {
        running = null;
      }
    })());
  void once();
  const timer = setInterval(() => void once(), SIGNALS_SYNC_MS);
  timer.unref();
  return {
    flush: async () => {
      await running;
      await once();
    },
    stop: () => clearInterval(timer),
  };
}

/** Reads the demo key from its file (tests, the page's quick start); null when absent. */
export function readDemoKey(dataDir: string): string | null {
  try {
    return readFileSync(join(dataDir, DEMO_KEY_FILE), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const env = opts.env ?? process.env;
  const dataDir = resolve(config.store.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err }, 'close step failed');
      }
    }
  };

  try {
    // Storage and the chain.
    let store: Store;
    if (config.store.kind === 'embedded') {
      store = await openStore({ kind: 'embedded', dataDir });
    } else {
      const uri = secretFromEnv(config.store.uriEnv, env);
      if (!uri) throw new Error(`store.kind is mongodb but ${config.store.uriEnv} is not set`);
      store = await openStore({ kind: 'mongodb', uri, dbName: config.store.dbName });
    }
    cleanups.push(() => store.close());
    if (opts.wrapStore) store = opts.wrapStore(store);
    const ops = new Ops(config, env, opts.opsClock);
    const keys = loadSigningKeys({
      dataDir,
      ...(config.chain.keyFile ? { keyFile: resolve(config.chain.keyFile) } : {}),
      create: true,
      origin: config.chain.origin,
      envVar: config.chain.signingKeyEnv,
      env,
    });
    const appender = await ChainAppender.open({ chain: ops.chainWatch.wrap(store.chain), keys, checkpointIntervalMs: config.chain.checkpointIntervalMs,
      ...(opts.signingWorkers !== undefined ? { signingWorkers: opts.signingWorkers } : {}),
    });
    cleanups.push(() => appender.close());
    // Grows from the appender's own batches (no re-read of what it just wrote); other processes' entries on demand.
    const proofs = await ProofService.open(store.chain, { follow: (cb) => appender.onAppended(cb) });
    cleanups.push(() => proofs.close());

    // Providers: the operator's real ones, plus the simulated fleet when enabled.
    const real = configuredProviders(config, env);
    const simulatedProviders = new Set<string>();
    let fleet: SimFleet | null = null;
    let providers: CatalogProviderConfig[] = real;
    if (fleetEnabled(config, real.length)) {
      const taken = new Set(real.map((p) => p.id));
      const simSeed = defaultProviderConfigs().filter((p) => !taken.has(p.id));
      const seedCatalog = new Catalog({ providers: simSeed });
      fleet = await startSimFleet({
        models: simModelsFromOfferings(seedCatalog.offerings()),
        host: '127.0.0.1',
        port: 0,
        seed: opts.fleet?.seed ?? config.simulatedFleet.seed,
        timeScale: opts.fleet?.timeScale ?? config.simulatedFleet.timeScale,
        ...(opts.fleet?.chaos === false || !config.simulatedFleet.faults ? { chaos: false as const } : {}),
      });
      const f = fleet;
      cleanups.push(() => f.close());
      const sims = simSeed.map((p) => ({
        ...p,
        baseUrl: f.baseUrl(p.id),
        apiKeyEnv: undefined,
        // The fleet publishes (and now and then changes) prices on its /models list, like a real host.
        pricesFrom: 'models-endpoint' as const,
        simulated: true,
      }));
      for (const p of sims) simulatedProviders.add(p.id);
      providers = [...real, ...sims];
      logger.info({ providers: sims.length, url: f.url }, 'simulated provider fleet started (SIMULATED: not real model traffic)');
    }
    if (providers.length === 0) throw new Error('no providers: configure providers[] or enable simulatedFleet');
    const catalog = new Catalog({ providers });
    const priceSync: PriceSync = startPriceSync(catalog, { env });
    cleanups.push(() => priceSync.stop());

    // Routing.
    const signals = new Signals(catalog);
    const router = new Router({
      catalog,
      signals,
      defaults: {
        caps: config.routing.caps,
        bar: config.routing.bar,
        defaultBar: config.routing.defaultBar,
        exploration: config.routing.exploration,
      },
      ...(opts.routerRandom ? { random: opts.routerRandom } : {}),
    });
    const adapters = new AdapterRegistry(catalog.providers(), { env, connectMs: config.routing.timeouts.connectMs });
    cleanups.push(() => adapters.close());
    const execute = createExecutor({
      adapters,
      signals,
      catalog,
      limits: {
        maxAttempts: config.routing.retryBudget,
        deadlineMs: config.routing.deadlineMs,
        timeouts: config.routing.timeouts,
      },
    }) as unknown as ExecuteFn;

    // Accounts and the call path.
    const accounts = createAccounts({ store, adminTokenEnv: config.admin.tokenEnv, env });
    const gateway = ops.observeGateway(createGateway({
      store,
      appender,
      router,
      signals,
      execute,
      defaultAgentPolicy: config.defaultAgentPolicy,
      simulatedProviders,
    }));

    // Crash recovery: holds of decisions left pending by a process that died. Only decisions older than
    // the routing deadline plus a margin count as abandoned, so a live call in another process is never
    // touched; the claim is a conditional store update, so concurrent sweeps never refund twice.
    const recovery = startRecovery(
      { store: ops.recoveryWatch.wrap(store), appender, olderThanMs: config.routing.deadlineMs + RECOVERY_MARGIN_MS },
      opts.recoveryEveryMs ?? RECOVERY_EVERY_MS,
    );
    cleanups.push(() => recovery.stop());
    try {
      const r = await recovery.sweep();
      if (r.recovered > 0) logger.warn(r, 'released holds of decisions abandoned by a crashed process');
    } catch (err) {
      logger.warn({ err }, 'crash-recovery sweep at start failed; retried periodically');
    }

    const signalsSync = startSignalsSync(store, signals, `signals/${hostname()}:${config.listen.port}`);
    cleanups.push(() => signalsSync.stop());

    const feed = new ChainFeed(store.chain, { bufferLimit: config.api.subscriberBufferLimit });
    await feed.start();
    cleanups.push(() => feed.close());
    const offCheckpoint = appender.onCheckpoint((cp) => feed.noteCheckpoint(cp));
    cleanups.push(offCheckpoint);
    cleanups.push(ops.bind({ store, appender, catalog, signals, feed, simulated: fleet !== null }));

    const api: ApiDeps = {
      store,
      feed,
      gateway,
      accounts,
      models: modelsView(catalog, signals, simulatedProviders, env),
      chain: {
        keys: () => keys.publicKeys(),
        inclusionProof: async (leafIndex, treeSize) => (await proofs.inclusion(leafIndex, treeSize)).hashes,
        consistencyProof: async (from, to) => (await proofs.consistency(from, to)).hashes,
      },
      subscriberBufferLimit: config.api.subscriberBufferLimit,
    };

    // auto: a demo agent only when the simulated fleet serves; never a funded key on real providers unless asked.
    const demoEnabled = config.demo.enabled === 'auto' ? fleet !== null : config.demo.enabled;
    const demo = demoEnabled ? await ensureDemoAgent(store, dataDir, config.demo.creditMicros) : null;

    let drained: Promise<void> | null = null;
    const drain = () =>
      (drained ??= (async () => {
        ops.health.setDraining();
        await gateway.drain();
        await recovery.stop();
        await signalsSync.flush();
        await appender.flush();
        await appender.checkpoint().catch((err: unknown) => logger.warn({ err }, 'final checkpoint failed'));
      })());
    let closed: Promise<void> | null = null;

    return {
      config,
      dataDir,
      store,
      keys,
      appender,
      proofs,
      catalog,
      signals,
      router,
      adapters,
      fleet,
      simulatedProviders,
      accounts,
      gateway,
      recovery,
      feed,
      api,
      demo,
      ops,
      drain,
      close: () =>
        (closed ??= (async () => {
          await drain();
          await cleanup();
        })()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface StartOptions extends AppOptions {
  /** Serve the trace page (bundled at start). Default true. */
  web?: boolean;
  /** Override config.listen (tests: port 0). */
  listen?: { host: string; port: number };
}

export interface Ainfera {
  readonly app: App;
  readonly server: RunningServer;
  readonly url: string;
  /**
   * Graceful: /ready turns 503 and the server keeps serving for config.health.drainDelayMs (a second call
   * ends that wait), then stop accepting, finish in-flight calls, flush the chain, close subscribers (1001).
   */
  close(): Promise<void>;
}

/** One whole process: the app graph and the server on config.listen. */
export async function startAinfera(config: Config, opts: StartOptions = {}): Promise<Ainfera> {
  const app = await createApp(config, opts);
  try {
    const production = (opts.env ?? process.env).NODE_ENV === 'production';
    let web: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
    if (opts.web !== false) {
      const { createWebAssets } = await import('../web/assets.js');
      web = createWebAssets();
    }
    const server = await startServer({
      host: opts.listen?.host ?? config.listen.host,
      port: opts.listen?.port ?? config.listen.port,
      deps: app.api,
      limits: {
        maxBodyBytes: config.api.maxBodyBytes,
        maxDepth: config.api.maxDepth,
        maxCost: config.api.maxCost,
        maxOperationsPerSocket: config.api.maxOperationsPerSocket,
        maxWebSockets: config.api.maxWebSockets,
      },
      graphiql: config.api.graphiql ?? !production,
      maskedErrors: true,
      audit: createAuditHandler({ chain: app.store.chain, proofs: app.proofs, publicKeys: () => app.keys.publicKeys() }),
      openai: createOpenAIRoutes({
        gateway: app.gateway,
        authenticate: (key) => app.accounts.authenticate(key),
        catalog: app.catalog,
        maxBodyBytes: config.api.maxBodyBytes,
      }),
      ...(web ? { web } : {}),
      ops: app.ops.handler((token) => app.accounts.isAdmin(token)),
    });
    app.ops.bindServer(server);
    let closing: Promise<void> | null = null;
    return {
      app,
      server,
      url: server.url,
      close: () => {
        app.ops.endDrainDelay(); // a second close() ends the readiness drain delay early
        return (closing ??= (async () => {
          await app.ops.beginDrain();
          await server.close({ drain: () => app.drain() });
          await app.close();
        })());
      },
    };
  } catch (err) {
    await app.close();
    throw err;
  }
}
