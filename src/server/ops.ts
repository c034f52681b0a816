// The operator surfaces of one process, assembled in one place so the composition root (app.ts) only
// threads them through: the store watches (observe.ts), health and readiness (health.ts), Prometheus
// metrics (metrics.ts), the shutdown drain delay, and the HTTP handler for /health, /ready and /metrics.
import { adminEnabled } from '../accounts/accounts.js';
import type { ChainFeed } from '../api/feed.js';
import type { Catalog } from '../catalog/index.js';
import type { ChainAppender } from '../chain/appender.js';
import type { Config } from '../config.js';
import type { Gateway } from '../gateway/types.js';
import { logger } from '../log.js';
import type { Signals } from '../routing/index.js';
import type { Store } from '../store/index.js';
import { createProbeHandler, HealthMonitor } from './health.js';
import { createMetricsHandler, Metrics } from './metrics.js';
import { ChainStoreWatch, RecoveryWatch } from './observe.js';
import type { OpsHandler, RunningServer } from './server.js';

export interface OpsParts {
  store: Store;
  appender: ChainAppender;
  catalog: Catalog;
  signals: Signals;
  feed: ChainFeed;
  simulated: boolean;
}

export class Ops {
  readonly chainWatch: ChainStoreWatch;
  readonly recoveryWatch: RecoveryWatch;
  /** Null when config.metrics.enabled is false. */
  readonly metrics: Metrics | null;
  private healthMonitor: HealthMonitor | null = null;
  private drainWait: Promise<void> | null = null;
  private endDrainWait: (() => void) | null = null;
  private readonly now: () => number;

  constructor(
    private readonly config: Config,
    private readonly env: NodeJS.ProcessEnv,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
    this.chainWatch = new ChainStoreWatch(this.now);
    this.recoveryWatch = new RecoveryWatch();
    this.metrics = config.metrics.enabled ? new Metrics({ defaultMetrics: config.metrics.processMetrics }) : null;
    if (this.metrics) this.chainWatch.onCommit = this.metrics.onCommit;
  }

  get health(): HealthMonitor {
    if (!this.healthMonitor) throw new Error('Ops.bind() has not run');
    return this.healthMonitor;
  }

  /** The gateway the API should use: counted when metrics are on. */
  observeGateway(gateway: Gateway): Gateway {
    return this.metrics ? this.metrics.observeGateway(gateway) : gateway;
  }

  /** Wire health and metrics to the running parts. Returns the unsubscribe to run on close. */
  bind(p: OpsParts): () => void {
    const offerings = () => p.catalog.offerings();
    const health = new HealthMonitor({
      options: this.config.health,
      now: this.now,
      store: {
        kind: p.store.kind,
        // Every adapter pings; a store wrapper that predates Store.ping falls back to a read that never writes.
        ping: () => (p.store.ping ? p.store.ping() : p.store.chain.latestCheckpoint().then(() => undefined)),
      },
      appender: p.appender,
      chainWatch: this.chainWatch,
      recoveryWatch: this.recoveryWatch,
      offerings,
      available: (modelId, providerId, now) => p.signals.isAvailable(modelId, providerId, now),
      subscribers: () => p.feed.size,
      simulated: p.simulated,
    });
    this.healthMonitor = health;
    const m = this.metrics;
    if (!m) return () => undefined;
    m.bind({
      appender: p.appender,
      offerings,
      breakerState: (modelId, providerId, now) => p.signals.breakerState(modelId, providerId, now),
      subscribers: () => p.feed.size,
      health: () => health.check({ waitForStore: false }),
      now: this.now,
      store: p.store.kind,
      simulated: p.simulated,
    });
    const offAppended = p.appender.onAppended(m.onAppended);
    const offCheckpoint = p.appender.onCheckpoint((cp) => m.noteCheckpoint(cp));
    // The height before this process cut any checkpoint (one read at start).
    void p.store.chain.latestCheckpoint().then(
      (cp) => cp && m.noteCheckpoint(cp, false),
      (err: unknown) => logger.warn({ err }, 'could not read the latest checkpoint for metrics'),
    );
    if (this.config.metrics.access === 'admin' && !adminEnabled(this.config.admin.tokenEnv, this.env)) {
      logger.warn({ tokenEnv: this.config.admin.tokenEnv }, 'GET /metrics is refused (403): metrics.access is "admin" and no admin token is set');
    }
    return () => {
      offAppended();
      offCheckpoint();
    };
  }

  bindServer(server: Pick<RunningServer, 'wsClients' | 'inFlight'>): void {
    this.metrics?.bindServer({ websockets: server.wsClients, httpInFlight: server.inFlight });
  }

  /**
   * Shutdown starts: /ready answers 503 from now on; resolves after config.health.drainDelayMs (the server
   * still serves meanwhile). Calling endDrainDelay() ends the wait early.
   */
  beginDrain(): Promise<void> {
    this.healthMonitor?.setDraining();
    const ms = this.config.health.drainDelayMs;
    if (ms <= 0) return Promise.resolve();
    return (this.drainWait ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endDrainWait = () => {
        clearTimeout(timer);
        resolve();
      };
    }));
  }

  endDrainDelay(): void {
    this.endDrainWait?.();
  }

  /** GET/HEAD /health, /ready and (when enabled) /metrics. */
  handler(isAdmin: (token: string | null) => boolean): OpsHandler {
    const probes = createProbeHandler(this.health);
    const metrics = this.metrics
      ? createMetricsHandler(this.metrics, {
          mode: this.config.metrics.access,
          tokenConfigured: () => adminEnabled(this.config.admin.tokenEnv, this.env),
          isAdmin,
          tokenEnv: this.config.admin.tokenEnv,
        })
      : null;
    return (req, res, path) => probes(req, res, path) || (metrics !== null && metrics(req, res, path));
  }
}
