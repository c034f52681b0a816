// Shared setup for the executor tests: the real catalog, signals and router, the simulated fleet serving
// the catalog's offerings over loopback, real adapters, a fake clock for the breaker and the waits.
import { Catalog } from '../../src/catalog/catalog.js';
import { AdapterRegistry } from '../../src/providers/registry.js';
import { simModelsFromOfferings, startSimFleet, type SimFault, type SimFleet } from '../../src/providers/sim-fleet.js';
import { Executor, type ExecEvent, type ExecuteInput, type ExecuteResult, type ExecutionLimits } from '../../src/routing/execute.js';
import { Router } from '../../src/routing/router.js';
import { Signals, type SignalsOptions } from '../../src/routing/signals.js';
import type { PlanOk, RouteRequest } from '../../src/routing/types.js';

export const T0 = Date.parse('2026-11-24T12:00:00Z');
export const PROMPT_MARKER = 'ZEBRA-PROMPT-7731';
export const TEST_TIMEOUTS = { connectMs: 1000, firstTokenMs: 400, stallMs: 250, totalMs: 4000 };

export const ask: RouteRequest = {
  messages: [{ role: 'user', content: `${PROMPT_MARKER}: explain cache invalidation in two sentences.` }],
  maxOutputTokens: 64,
};

export interface World {
  fleet: SimFleet;
  catalog: Catalog;
  registry: AdapterRegistry;
  clock: { t: number };
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const clock = { t: T0 };
  const catalog = new Catalog({ now: T0 });
  const fleet = await startSimFleet({ models: simModelsFromOfferings(catalog.offerings()), timeScale: 50, chaos: false, seed: 11, now: () => clock.t });
  const registry = new AdapterRegistry(catalog.providers(), { baseUrlFor: (p) => fleet.baseUrl(p.id) });
  return {
    fleet,
    catalog,
    registry,
    clock,
    async close() {
      await registry.close();
      await fleet.close();
    },
  };
}

/** Inject a fault for one "provider/model" catalog key (translated to the provider's upstream model id). */
export function injectFault(w: World, key: string, fault: SimFault, times?: number): void {
  const [providerId, modelId] = key.split('/') as [string, string];
  const model = w.catalog.offering(providerId, modelId)!.upstreamModel;
  w.fleet.inject({ providerId, model, fault, ...(times !== undefined ? { times } : {}) });
}

export interface Harness {
  signals: Signals;
  router: Router;
  executor: Executor;
  events: ExecEvent[];
  sleeps: number[];
  plan(keys: string[], request?: RouteRequest): PlanOk;
  run(keys: string[], extra?: Partial<ExecuteInput> & { request?: RouteRequest }): Promise<ExecuteResult>;
}

/** Fresh signals (breakers), executor and event log over a shared world. */
export function harness(w: World, opts: { signals?: SignalsOptions; limits?: Partial<ExecutionLimits>; random?: () => number } = {}): Harness {
  const signals = new Signals(w.catalog, opts.signals);
  const router = new Router({ catalog: w.catalog, signals, defaults: { exploration: 0 } });
  const events: ExecEvent[] = [];
  const sleeps: number[] = [];
  const executor = new Executor({
    adapters: w.registry,
    signals,
    catalog: w.catalog,
    now: () => w.clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      w.clock.t += ms;
    },
    random: opts.random ?? (() => 0.5),
    limits: { timeouts: TEST_TIMEOUTS, deadlineMs: 30_000, ...opts.limits },
  });
  const plan = (keys: string[], request: RouteRequest = ask): PlanOk => {
    const p = router.plan(request, { now: w.clock.t });
    const attempts = keys.map((k) => {
      const c = p.candidates.find((x) => `${x.providerId}/${x.modelId}` === k);
      if (!c) throw new Error(`no candidate ${k}`);
      return c;
    });
    const base = p.ok ? p : { ...p, ok: true as const, attempts: [], explored: false };
    const { kind: _k, message: _m, ...rest } = base as typeof base & { kind?: string; message?: string };
    return { ...(rest as PlanOk), ok: true, attempts, explored: false };
  };
  let seq = 0;
  return {
    signals,
    router,
    executor,
    events,
    sleeps,
    plan,
    run(keys, extra = {}) {
      const request = extra.request ?? ask;
      return executor.execute({
        plan: plan(keys, request),
        request,
        emit: async (e) => {
          events.push(e);
          return { seq: seq++ };
        },
        agent: 'test-agent',
        decisionId: 'dec_test',
        ...extra,
      });
    },
  };
}

export const kinds = (h: Harness): string[] => h.events.map((e) => e.kind);
