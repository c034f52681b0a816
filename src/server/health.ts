// Liveness and readiness, the way load balancers and Kubernetes use them (docs/operations.md):
//
//   GET /health  liveness: 200 whenever the process answers HTTP, with `status: ok | degraded` and the
//                problems that make it degraded. Restarting the process fixes none of them (a store outage,
//                providers down), so liveness never fails on them: a liveness probe that did would turn a
//                dependency outage into a restart loop. It never waits on the store.
//   GET /ready   readiness: 503 while this instance cannot route (draining on shutdown, store unreachable,
//                no servable offering, chain appender stalled), else 200. A load balancer stops sending it
//                traffic while it says 503.
//
// Cheap: counters and in-memory state only, plus at most one store ping (Store.ping: a read-only round
// trip, never chain.head(), which on MongoDB may finish an unfinished batch: a write racing the appender)
// per `storeCheckMs`, shared by every probe (single flight, bounded by `storeTimeoutMs`). Secret-free: codes,
// counts and error class names only; no prompt, key, balance, agent, or store error message (it can name
// hosts or carry a connection string).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChainStoreWatch, RecoveryWatch } from './observe.js';

export const HEALTH_PATH = '/health';
export const READY_PATH = '/ready';

export type ProblemCode =
  | 'draining'
  | 'store_unreachable'
  | 'no_servable_offering'
  | 'chain_stalled'
  | 'chain_store_failing'
  | 'recovery_failing';

/** Every code, for metrics (one series each). */
export const PROBLEM_CODES: readonly ProblemCode[] = [
  'draining',
  'store_unreachable',
  'no_servable_offering',
  'chain_stalled',
  'chain_store_failing',
  'recovery_failing',
];

export interface HealthProblem {
  code: ProblemCode;
  message: string;
  /** True when this problem makes GET /ready answer 503. */
  blocksReadiness: boolean;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  ready: boolean;
  problems: HealthProblem[];
  simulated: boolean;
  store: string;
  /** Entries in this process's view of the chain. */
  chainSize: number;
  /** Chain events queued in this process, not yet durable. */
  chainQueued: number;
  subscribers: number;
  offerings: { total: number; servable: number };
}

export interface HealthOptions {
  /** Fresh store reads are at most this often; probes in between reuse the last answer. */
  storeCheckMs: number;
  /** A store read slower than this counts as unreachable. */
  storeTimeoutMs: number;
  /** Chain writes pending (or one running) this long with no progress: stalled. */
  chainStallMs: number;
  /** Not ready while no (provider, model) offering is servable (every breaker open). */
  readyRequiresServable: boolean;
}

export interface HealthDeps {
  options: HealthOptions;
  /** Epoch ms (tests advance it to expire caches and cooldowns). */
  now: () => number;
  /** `ping`: a read-only store round trip (Store.ping); never a read that can write. */
  store: { readonly kind: string; ping(): Promise<void> };
  /** `busy`: a batch taken off the queue is being signed or written (ChainAppender.busy). */
  appender: { readonly size: number; readonly queued: number; readonly busy: boolean };
  chainWatch: ChainStoreWatch;
  recoveryWatch: RecoveryWatch;
  /** Every (provider, model) offering this instance could route to. */
  offerings: () => Iterable<{ readonly providerId: string; readonly modelId: string }>;
  /** Whether the offering's breaker lets a call through now (closed, or half-open with its probe free). */
  available: (modelId: string, providerId: string, now: number) => boolean;
  subscribers: () => number;
  simulated: boolean;
}

interface StoreProbe {
  ok: boolean;
  at: number;
  /** Error class name or 'timeout'. */
  error: string | null;
}

export class HealthMonitor {
  private drainingSince: number | null = null;
  private probe: StoreProbe | null = null;
  private probing: Promise<StoreProbe> | null = null;
  private probingSince = 0;
  /** When chain events were first seen pending with no store activity since (stall detection). */
  private pendingSeenAt: number | null = null;

  constructor(private readonly deps: HealthDeps) {}

  /** Shutdown began: readiness says 503 from now on (the instance still serves what reaches it). */
  setDraining(): void {
    this.drainingSince ??= this.deps.now();
  }

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /**
   * The current report. `waitForStore`: refresh a stale store answer first (readiness); otherwise use the
   * last answer and refresh it in the background (liveness and metrics never wait on the store).
   */
  async check(opts: { waitForStore: boolean }): Promise<HealthReport> {
    const { deps } = this;
    const storeNow = this.storeProbe(opts.waitForStore);
    const store = storeNow instanceof Promise ? await storeNow : storeNow;
    const now = deps.now();
    const problems: HealthProblem[] = [];

    if (this.drainingSince !== null) {
      problems.push({ code: 'draining', message: 'shutting down: finishing in-flight calls, taking no new ones', blocksReadiness: true });
    }
    if (store && !store.ok) {
      problems.push({
        code: 'store_unreachable',
        message: `the ${deps.store.kind} store did not answer a ping (${store.error ?? 'error'})`,
        blocksReadiness: true,
      });
    }

    let total = 0;
    let servable = 0;
    for (const o of deps.offerings()) {
      total++;
      if (deps.available(o.modelId, o.providerId, now)) servable++;
    }
    if (servable === 0) {
      problems.push({
        code: 'no_servable_offering',
        message: total === 0 ? 'no provider offering is configured' : `every one of the ${total} provider offerings has its breaker open`,
        blocksReadiness: deps.options.readyRequiresServable,
      });
    }

    const stall = this.chainStall(now);
    if (stall) problems.push({ code: 'chain_stalled', message: stall, blocksReadiness: true });

    const cw = deps.chainWatch;
    if (cw.failing) {
      problems.push({
        code: 'chain_store_failing',
        message: `the last chain write failed (${cw.lastErrorName ?? 'error'}) and none succeeded since`,
        blocksReadiness: false,
      });
    }
    const rw = deps.recoveryWatch;
    if (rw.failing) {
      problems.push({
        code: 'recovery_failing',
        message: `the last crash-recovery sweep had a store call fail (${rw.lastErrorName ?? 'error'}); the next sweep retries, and clears this if it runs clean`,
        blocksReadiness: false,
      });
    }

    return {
      status: problems.length === 0 ? 'ok' : 'degraded',
      ready: !problems.some((p) => p.blocksReadiness),
      problems,
      simulated: deps.simulated,
      store: deps.store.kind,
      chainSize: deps.appender.size,
      chainQueued: deps.appender.queued,
      subscribers: deps.subscribers(),
      offerings: { total, servable },
    };
  }

  /** A reason when chain writes make no progress, else null. */
  private chainStall(now: number): string | null {
    const { chainWatch: cw, appender, options } = this.deps;
    if (cw.inFlightSince !== null && now - cw.inFlightSince > options.chainStallMs) {
      return `a chain write has been running for ${now - cw.inFlightSince} ms`;
    }
    // Events not yet acknowledged - queued, or in a batch the appender is signing (busy: a batch stuck there
    // leaves the queue empty and the store idle) - with no write started or finished since we first saw
    // them pending. Needs two looks `chainStallMs` apart: an event queued a moment ago (lingering to share
    // a commit) or a batch being signed now is not a stall.
    if (appender.queued > 0 || appender.busy) {
      if (this.pendingSeenAt === null || this.pendingSeenAt < cw.lastActivityAt) this.pendingSeenAt = now;
      const waited = now - this.pendingSeenAt;
      if (waited > options.chainStallMs) {
        return appender.queued > 0
          ? `${appender.queued} chain events have waited ${waited} ms with no chain write`
          : `a chain batch has been in the appender's hands (signing) for ${waited} ms with no chain write`;
      }
    } else {
      this.pendingSeenAt = null;
    }
    return null;
  }

  /** The store answer to use now: cached, or (when asked to wait and it is stale) a fresh one. */
  private storeProbe(wait: boolean): StoreProbe | null | Promise<StoreProbe> {
    const now = this.deps.now();
    const fresh = this.probe !== null && now - this.probe.at < this.deps.options.storeCheckMs;
    if (fresh) return this.probe;
    if (!this.probing) {
      this.probingSince = now;
      this.probing = this.ping().finally(() => {
        this.probing = null;
      });
    }
    // A read that has been hanging past the timeout is an answer in itself (never stack reads on it).
    if (now - this.probingSince >= this.deps.options.storeTimeoutMs) {
      this.probe = { ok: false, at: now, error: 'timeout' };
      return this.probe;
    }
    return wait ? this.probing : this.probe;
  }

  private async ping(): Promise<StoreProbe> {
    const { deps } = this;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => {
      timer = setTimeout(() => r('timeout'), deps.options.storeTimeoutMs);
      timer.unref();
    });
    let error: string | null;
    try {
      error = await Promise.race([
        deps.store.ping().then(() => null),
        timeout,
      ]);
    } catch (err) {
      error = err instanceof Error ? err.name : typeof err;
    } finally {
      clearTimeout(timer);
    }
    const probe: StoreProbe = { ok: error === null, at: deps.now(), error };
    this.probe = probe;
    return probe;
  }
}

function sendProbe(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** GET/HEAD /health and /ready; false for any other path. */
export function createProbeHandler(monitor: HealthMonitor): (req: IncomingMessage, res: ServerResponse, path: string) => false | Promise<true> {
  return (req, res, path) => {
    if (path !== HEALTH_PATH && path !== READY_PATH) return false;
    return (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-length': '0' });
        res.end();
        return true as const;
      }
      if (path === HEALTH_PATH) {
        sendProbe(res, 200, await monitor.check({ waitForStore: false }));
      } else {
        const r = await monitor.check({ waitForStore: true });
        sendProbe(res, r.ready ? 200 : 503, { ready: r.ready, status: r.status, problems: r.problems.filter((p) => p.blocksReadiness) });
      }
      return true as const;
    })();
  };
}
