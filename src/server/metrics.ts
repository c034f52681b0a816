// Prometheus metrics (GET /metrics, text exposition format) from hooks that already exist, so no hot-path
// module changes for them: the Gateway object is wrapped where app.ts composes it (each routeCall's
// result), the appender's onAppended/onCheckpoint (entries by kind, batches, fallbacks), the watched chain
// store (commit durations, conflicts: observe.ts), and gauges read at scrape time (breakers, queue depth,
// subscribers, in-flight requests, health). The list, with what each label means, is docs/operations.md.
//
// Labels are bounded by construction: outcomes, task types, entry kinds, error classes, and the
// (provider, model) offerings of the catalog. Never an agent handle, key, prompt, or balance (privacy,
// and a label per agent would grow without bound). Every labelled counter also caps its distinct series
// and folds the rest into "other", in case a new value ever reaches a label unexpectedly.
//
// Cost per routed call: counters are plain numbers in cells looked up once (nested Maps, no string keys
// built) and copied into prom-client only when scraped; the two per-call histograms use label children
// made at start. Measured with prom-client 15 (in-process loop, machine load ~4.9 on 2 cores): a
// prom-client counter inc ~230 ns and a histogram observe ~250-400 ns, against ~1 ns for a cell; the
// wrapped routeCall adds ~1.3 us, and ~2.1-2.7 us with its share of a 6-entry chain batch and commit,
// against ~1.1 ms of server CPU per routed OpenAI call at saturation (bench/results/overhead.json).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { bearerToken, looksLikeApiKey } from '../accounts/keys.js';
import type { AppendedEnvelope } from '../chain/appender.js';
import { ROUTE_PHASES, type AttemptView, type DecisionView, type Gateway, type RouteCallResult, type RoutePhase } from '../gateway/types.js';
import { logger } from '../log.js';
import type { StoredCheckpoint } from '../store/port.js';
import { PROBLEM_CODES, type HealthReport } from './health.js';
import type { CommitResult } from './observe.js';

export const METRICS_PATH = '/metrics';

/** How a route call ended, as the `outcome` label says it. */
export const ROUTE_OUTCOMES = ['completed', 'failed', 'aborted', 'no_eligible_model', 'insufficient_credit', 'invalid_request', 'error'] as const;
export type RouteOutcome = (typeof ROUTE_OUTCOMES)[number];

const TASK_TYPES = ['tool_use', 'vision', 'extraction', 'code', 'reasoning', 'summarization', 'drafting', 'chat'] as const;
const UNKNOWN = 'unknown';
const OTHER = 'other';
const BREAKER_STATES = ['closed', 'half_open', 'open'] as const;
/** Most distinct series one labelled counter keeps before folding new label values into "other". */
const MAX_SERIES = 2_000;

const CALL_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
const OVERHEAD_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_ENTRIES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

interface Cell {
  readonly labels: Record<string, string>;
  value: number;
}

/** A counter whose values are plain numbers in cells, copied into prom-client at scrape time. */
class CellCounter {
  private readonly cells: Cell[] = [];
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    const cells = this.cells;
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const c of cells) this.inc(c.labels, c.value);
      },
    });
  }

  get size(): number {
    return this.cells.length;
  }

  make(labels: Record<string, string>): Cell {
    const c: Cell = { labels, value: 0 };
    this.cells.push(c);
    return c;
  }
}

/** One label: value → cell, made on first use, at most MAX_SERIES of them (then "other"). */
class CellsBy1 {
  private readonly map = new Map<string, Cell>();
  constructor(
    private readonly counter: CellCounter,
    private readonly label: string,
    preset: readonly string[] = [],
  ) {
    for (const v of preset) this.get(v);
  }
  get(value: string): Cell {
    let c = this.map.get(value);
    if (c === undefined) {
      const v = this.map.size < MAX_SERIES ? value : OTHER;
      c = this.map.get(v) ?? this.counter.make({ [this.label]: v });
      this.map.set(v, c);
    }
    return c;
  }
}

export interface MetricsSources {
  appender: { readonly size: number; readonly queued: number };
  /** Every (provider, model) offering (the breaker gauge has one series per offering and state). */
  offerings: () => Iterable<{ readonly providerId: string; readonly modelId: string }>;
  breakerState: (modelId: string, providerId: string, now: number) => { state: string };
  subscribers: () => number;
  /** The report /health gives (never waits on the store). */
  health: () => Promise<HealthReport>;
  now: () => number;
  store: string;
  simulated: boolean;
}

export interface ServerSources {
  websockets: () => number;
  httpInFlight: () => number;
}

/**
 * prom-client's default process metrics, collected once per process and shared by every Metrics that
 * shows them: they describe the process, not an app, and collectDefaultMetrics starts monitors nothing can
 * stop - in prom-client 15.1.3 the event-loop-delay histogram (lib/metrics/eventLoopLag.js) and the GC
 * PerformanceObserver (lib/metrics/gc.js) are locals of the collector, never disabled or disconnected, and
 * registry.clear() only forgets the metrics. Called per app, each app a process creates (tests create
 * many) left another pair running.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  /** This instance's own metrics. */
  readonly registry = new Registry();
  /** What a scrape renders: the process metrics (when asked for) and this instance's. */
  private readonly exposed: Registry;
  private sources: MetricsSources | null = null;
  private server: ServerSources | null = null;

  private readonly routeCalls: Map<string, Map<string, Cell>> = new Map();
  private readonly replays: CellsBy1;
  private readonly callSeconds: Map<string, Histogram.Internal<string>> = new Map();
  private readonly overheadSeconds: Map<string, Histogram.Internal<string>> = new Map();
  /** Per phase of a call (gateway's onPhase), children made once: observing is a lookup and an add. */
  private readonly phaseSeconds: Map<string, Histogram.Internal<string>> = new Map();
  private callsInFlight = 0;

  private readonly attemptCounter: CellCounter;
  /** provider → model → result ("ok" or an error class) → cell. */
  private readonly attempts = new Map<string, Map<string, Map<string, Cell>>>();

  private readonly entries: CellsBy1;
  private readonly fallbacks: CellsBy1;
  private readonly batches: Cell;
  private readonly batchEntries: Histogram;
  private readonly commits: CellsBy1;
  private readonly commitSeconds: Histogram;
  private readonly checkpointsCut: Cell;
  private checkpoint: { index: number; size: number } | null = null;
  /** The health report of the scrape being rendered (gauges read it). */
  private scrapeReport: HealthReport | null = null;

  constructor(opts: { defaultMetrics: boolean }) {
    const registry = this.registry;

    // Route calls.
    const calls = new CellCounter(registry, 'ainfera_route_calls_total', 'Route calls (GraphQL route, OpenAI endpoint) by how they ended and task type. Replays of an idempotency key count here too.', ['outcome', 'task_type']);
    const durations = new Histogram({ name: 'ainfera_route_call_duration_seconds', help: 'Wall time of route calls (streams: until the last byte), by outcome. Replays excluded.', labelNames: ['outcome'], buckets: CALL_SECONDS, registers: [registry] });
    const overheads = new Histogram({
      name: 'ainfera_route_added_latency_seconds',
      help: "Time a route call spent outside provider attempts (classify, plan, hold, chain commits, refund, backoff between attempts), by outcome. Replays excluded.",
      labelNames: ['outcome'],
      buckets: OVERHEAD_SECONDS,
      registers: [registry],
    });
    for (const outcome of ROUTE_OUTCOMES) {
      const byTask = new Map<string, Cell>();
      for (const t of [...TASK_TYPES, UNKNOWN]) byTask.set(t, calls.make({ outcome, task_type: t }));
      this.routeCalls.set(outcome, byTask);
      this.callSeconds.set(outcome, durations.labels(outcome));
      this.overheadSeconds.set(outcome, overheads.labels(outcome));
    }
    const phases = new Histogram({
      name: 'ainfera_route_phase_duration_seconds',
      help: 'Wall time of each phase of route calls: admit (validation, digests, decision record), plan (routing), hold (ledger), provider (every attempt), chain (until the call\'s entries are durable), settle (decision and hold settled, final record). Where added latency goes.',
      labelNames: ['phase'],
      buckets: OVERHEAD_SECONDS,
      registers: [registry],
    });
    for (const phase of ROUTE_PHASES) this.phaseSeconds.set(phase, phases.labels(phase));
    this.replays = new CellsBy1(new CellCounter(registry, 'ainfera_route_replays_total', 'Route calls answered from an earlier call with the same idempotency key (no provider call), by outcome.', ['outcome']), 'outcome', ROUTE_OUTCOMES);
    // prom-client calls collect() with the metric as `this`: these read this Metrics' state.
    const inFlight = () => this.callsInFlight;
    const sources = () => this.sources;
    const scrapeReport = () => this.scrapeReport;
    new Gauge({
      name: 'ainfera_route_calls_in_flight',
      help: 'Route calls running now.',
      registers: [registry],
      collect() {
        this.set(inFlight());
      },
    });
    this.attemptCounter = new CellCounter(registry, 'ainfera_provider_attempts_total', 'Provider attempts by provider, model and result: "ok" or the error class (rate_limited, overloaded, timeout_*, connection_reset, stream_cut, refusal, ...).', ['provider', 'model', 'result']);

    // The chain, as this process writes it.
    this.entries = new CellsBy1(new CellCounter(registry, 'ainfera_chain_entries_total', 'Chain entries this process appended (durable), by kind.', ['kind']), 'kind');
    this.fallbacks = new CellsBy1(new CellCounter(registry, 'ainfera_fallbacks_total', 'Fallbacks from one (provider, model) to another within a call, by the reason the previous attempt ended.', ['reason']), 'reason');
    this.batches = new CellCounter(registry, 'ainfera_chain_batches_total', 'Durable chain batches (one store commit each) this process appended.', []).make({});
    this.batchEntries = new Histogram({ name: 'ainfera_chain_batch_entries', help: 'Entries per durable chain batch.', buckets: BATCH_ENTRIES, registers: [registry] });
    this.commits = new CellsBy1(
      new CellCounter(registry, 'ainfera_chain_commits_total', 'Chain store appends by result: ok, conflict (another writer moved the head; the batch is re-sequenced), error.', ['result']),
      'result',
      ['ok', 'conflict', 'error'],
    );
    this.commitSeconds = new Histogram({ name: 'ainfera_chain_commit_duration_seconds', help: 'Duration of chain store appends (durable commit of one batch), any result.', buckets: OVERHEAD_SECONDS, registers: [registry] });
    this.checkpointsCut = new CellCounter(registry, 'ainfera_chain_checkpoints_total', 'Signed checkpoints this process cut.', []).make({});
    const gauge = (name: string, help: string, read: () => number | null) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const v = read();
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    gauge('ainfera_chain_size_entries', "Entries in this process's view of the chain.", () => this.sources?.appender.size ?? null);
    gauge('ainfera_chain_append_queue_depth', 'Chain events queued in this process, not yet durable.', () => this.sources?.appender.queued ?? null);
    gauge('ainfera_chain_checkpoint_height', 'Index (block height) of the latest checkpoint this process knows.', () => this.checkpoint?.index ?? null);
    gauge('ainfera_chain_checkpoint_size_entries', 'Tree size of the latest checkpoint this process knows.', () => this.checkpoint?.size ?? null);
    gauge('ainfera_subscribers', 'Live chainEvents subscriptions on this instance.', () => this.sources?.subscribers() ?? null);
    gauge('ainfera_websocket_connections', 'Open GraphQL WebSocket connections.', () => this.server?.websockets() ?? null);
    gauge('ainfera_http_requests_in_flight', 'HTTP requests being served (streams included).', () => this.server?.httpInFlight() ?? null);

    new Gauge({
      name: 'ainfera_breaker_state',
      help: 'Availability breaker of each (provider, model) offering: 1 for its current state (closed, half_open, open), 0 for the others.',
      labelNames: ['provider', 'model', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        const s = sources();
        if (!s) return;
        const now = s.now();
        for (const o of s.offerings()) {
          const state = s.breakerState(o.modelId, o.providerId, now).state;
          for (const st of BREAKER_STATES) this.set({ provider: o.providerId, model: o.modelId, state: st }, st === state ? 1 : 0);
        }
      },
    });
    // Health, as /health reports it, taken once per scrape by render().
    new Gauge({
      name: 'ainfera_ready',
      help: 'Whether GET /ready would answer 200 (1) or 503 (0), store check aside (it never waits on the store here).',
      registers: [registry],
      collect() {
        const r = scrapeReport();
        if (r) this.set(r.ready ? 1 : 0);
        else this.reset();
      },
    });
    new Gauge({
      name: 'ainfera_health_problem',
      help: 'Problems GET /health reports (1: present), by code: draining, store_unreachable, no_servable_offering, chain_stalled, chain_store_failing, recovery_failing.',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        const r = scrapeReport();
        this.reset();
        if (r) for (const code of PROBLEM_CODES) this.set({ code }, r.problems.some((p) => p.code === code) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ainfera_offerings_servable',
      help: 'Provider offerings whose breaker lets a call through now (closed, or half-open with its probe free).',
      registers: [registry],
      collect() {
        const r = scrapeReport();
        if (r) this.set(r.offerings.servable);
        else this.reset();
      },
    });
    new Gauge({
      name: 'ainfera_info',
      help: 'Always 1; labels say which store this instance uses and whether the provider fleet is simulated.',
      labelNames: ['store', 'simulated'],
      registers: [registry],
      collect() {
        this.reset();
        const s = sources();
        if (s) this.set({ store: s.store, simulated: String(s.simulated) }, 1);
      },
    });
    // Last: merge takes the metrics registered so far.
    this.exposed = opts.defaultMetrics ? Registry.merge([processMetrics(), registry]) : registry;
  }

  /** What the scrape-time gauges read. */
  bind(sources: MetricsSources): void {
    this.sources = sources;
  }

  bindServer(server: ServerSources): void {
    this.server = server;
  }

  /**
   * The same gateway, counting each routeCall by its result. Other methods pass through. Counting never
   * changes a call's outcome: it runs outside the call's try (an `error` is counted only for a call that
   * threw), and a counting bug is logged and swallowed rather than failing a call that succeeded.
   */
  observeGateway(gateway: Gateway): Gateway {
    const routeCall: Gateway['routeCall'] = async (agent, request, opts) => {
      this.callsInFlight++;
      const t0 = performance.now();
      let result: RouteCallResult;
      // Phase timings ride along with whatever the caller passed (a caller's own onPhase still runs).
      const own = opts?.onPhase;
      const onPhase = (phase: RoutePhase, ms: number): void => {
        this.phaseSeconds.get(phase)?.observe(ms / 1000);
        own?.(phase, ms);
      };
      try {
        result = await gateway.routeCall(agent, request, { ...opts, onPhase });
      } catch (err) {
        this.guarded(() => this.recordCall('error', UNKNOWN, performance.now() - t0, 0));
        throw err;
      } finally {
        this.callsInFlight--;
      }
      this.guarded(() => this.recordResult(result, performance.now() - t0));
      return result;
    };
    return { ...gateway, routeCall };
  }

  private guarded(record: () => void): void {
    try {
      record();
    } catch (err) {
      logger.warn({ err }, 'could not count a route call in metrics (the call itself is unaffected)');
    }
  }

  /** Durable chain batches (appender.onAppended). */
  readonly onAppended = (batch: readonly AppendedEnvelope[]): void => {
    this.batches.value++;
    this.batchEntries.observe(batch.length);
    for (const env of batch) {
      const kind = env.entry.kind;
      this.entries.get(kind).value++;
      if (kind === 'fallback') {
        const reason = env.entry.reason;
        this.fallbacks.get(typeof reason === 'string' ? reason : UNKNOWN).value++;
      }
    }
  };

  /** A checkpoint this process cut (appender.onCheckpoint), or the latest one read at start (`cut` false). */
  noteCheckpoint(cp: Pick<StoredCheckpoint, 'index' | 'size'>, cut = true): void {
    if (cut) this.checkpointsCut.value++;
    if (this.checkpoint === null || cp.index > this.checkpoint.index) this.checkpoint = { index: cp.index, size: cp.size };
  }

  /** One chain store append (ChainStoreWatch.onCommit). */
  readonly onCommit = (seconds: number, result: CommitResult): void => {
    this.commits.get(result).value++;
    this.commitSeconds.observe(seconds);
  };

  private recordResult(r: RouteCallResult, wallMs: number): void {
    let outcome: RouteOutcome;
    let taskType: string = UNKNOWN;
    let attempts: readonly AttemptView[] = [];
    // A replay puts back the decision stored beside the result, and that can be null (an older or damaged
    // record): read the optional parts as optional, whatever the type says.
    const decision = 'decision' in r ? (r.decision as DecisionView | null | undefined) : null;
    switch (r.type) {
      case 'RouteSuccess':
        outcome = 'completed';
        taskType = decision?.taskType ?? UNKNOWN;
        attempts = decision?.attempts ?? [];
        break;
      case 'AllAttemptsFailed':
        outcome = r.aborted ? 'aborted' : 'failed';
        taskType = decision?.taskType ?? UNKNOWN;
        attempts = (r.attempts as readonly AttemptView[] | undefined) ?? [];
        break;
      case 'NoEligibleModel':
        outcome = 'no_eligible_model';
        taskType = r.taskType;
        break;
      case 'InsufficientCredit':
        // The result does not carry the task type (the chain's `rejected` entry does).
        outcome = 'insufficient_credit';
        break;
      case 'ValidationError':
        outcome = 'invalid_request';
        break;
    }
    if ('replayed' in r && r.replayed) {
      this.routeCell(outcome, taskType).value++;
      this.replays.get(outcome).value++;
      return;
    }
    let providerMs = 0;
    for (const a of attempts) {
      providerMs += a.latencyMs;
      this.attemptCell(a.provider, a.model, a.ok ? 'ok' : (a.errorClass ?? UNKNOWN)).value++;
    }
    this.recordCall(outcome, taskType, wallMs, providerMs);
  }

  private recordCall(outcome: RouteOutcome, taskType: string, wallMs: number, providerMs: number): void {
    this.routeCell(outcome, taskType).value++;
    this.callSeconds.get(outcome)!.observe(wallMs / 1000);
    this.overheadSeconds.get(outcome)!.observe(Math.max(0, wallMs - providerMs) / 1000);
  }

  private routeCell(outcome: RouteOutcome, taskType: string): Cell {
    const byTask = this.routeCalls.get(outcome)!;
    return byTask.get(taskType) ?? byTask.get(UNKNOWN)!;
  }

  private attemptCell(provider: string, model: string, result: string): Cell {
    let byModel = this.attempts.get(provider);
    if (!byModel) this.attempts.set(provider, (byModel = new Map()));
    let byResult = byModel.get(model);
    if (!byResult) byModel.set(model, (byResult = new Map()));
    let c = byResult.get(result);
    if (!c) {
      c = this.attemptCounter.size < MAX_SERIES ? this.attemptCounter.make({ provider, model, result }) : this.overflowAttempts();
      byResult.set(result, c);
    }
    return c;
  }

  private overflow: Cell | null = null;
  private overflowAttempts(): Cell {
    return (this.overflow ??= this.attemptCounter.make({ provider: OTHER, model: OTHER, result: OTHER }));
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.scrapeReport = this.sources ? await this.sources.health() : null;
    return { contentType: this.exposed.contentType, body: await this.exposed.metrics() };
  }
}

export interface MetricsAccess {
  /** 'public': anyone who can reach the port; 'admin': the admin token is required. */
  mode: 'admin' | 'public';
  /** Whether an admin token is configured at all (read per request: rotation needs no restart). */
  tokenConfigured: () => boolean;
  isAdmin: (token: string | null) => boolean;
  tokenEnv: string;
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const text = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * Whether the request is the admin's by the rules GraphQL over HTTP uses (server.ts reads the headers,
 * api/context.ts resolveCaller judges them): `Authorization: Bearer` carries an agent key (`ak_…`) or the
 * admin token, `x-admin-token` the admin token; every admin token presented must be valid (a wrong one is
 * refused, never ignored) and either header holding it makes the caller admin - so an agent key in
 * Authorization beside a valid x-admin-token is admin here as there. The agent key itself is not looked
 * up (metrics need no agent; GraphQL would refuse an unknown one).
 */
export function presentsAdminToken(req: IncomingMessage, isAdmin: (token: string) => boolean): boolean {
  const bearer = bearerToken(req.headers.authorization);
  const header = req.headers['x-admin-token'];
  const xAdmin = typeof header === 'string' && header !== '' ? header : null;
  let admin = false;
  if (bearer !== null && !looksLikeApiKey(bearer)) {
    if (!isAdmin(bearer)) return false;
    admin = true;
  }
  if (xAdmin !== null) {
    if (!isAdmin(xAdmin)) return false;
    admin = true;
  }
  return admin;
}

/** GET/HEAD /metrics under the configured access rule; false for any other path. */
export function createMetricsHandler(metrics: Metrics, access: MetricsAccess): (req: IncomingMessage, res: ServerResponse, path: string) => false | Promise<true> {
  return (req, res, path) => {
    if (path !== METRICS_PATH) return false;
    return (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-length': '0' });
        res.end();
        return true as const;
      }
      if (access.mode === 'admin') {
        if (!access.tokenConfigured()) {
          sendError(res, 403, 'METRICS_NEED_ADMIN_TOKEN', `metrics are served to the admin only (metrics.access "admin") and no admin token is configured: set ${access.tokenEnv}, or set metrics.access to "public"`);
          return true as const;
        }
        if (!presentsAdminToken(req, access.isAdmin)) {
          sendError(res, 401, 'UNAUTHENTICATED', 'metrics need the admin token (Authorization: Bearer <token> or x-admin-token)', { 'www-authenticate': 'Bearer realm="ainfera metrics"' });
          return true as const;
        }
      }
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store' });
      res.end(body);
      return true as const;
    })();
  };
}
