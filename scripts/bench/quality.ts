// `npm run bench:quality`: does the router finish tasks as well as an oracle, at a similar cost?
//
// A simulated workload of mixed task types. Each (task type, model) has a HIDDEN finish probability,
// correlated with the intelligence index (a different difficulty curve from the router's prior, plus a
// per-(task, model) surprise); each request has its own hardness, so failures correlate across weak
// models. Mid-run a provider has an outage, and later a strong model's price drops (published on the
// provider's /models list, which the router's catalog reads at its sync interval).
// Every strategy sees the same requests and the same random draws (common random numbers):
//   router          this router (Signals + Router), fed every attempt like the executor does
//   oracle          knows the hidden probabilities, live health and prices: cheapest candidate whose
//                   TRUE finish probability clears the bar, fallbacks in the same order
//   most_capable    highest intelligence index that can do the task; fallbacks by index
//   cheapest        cheapest that can do the task; fallbacks by price
//   static_pin      one fixed model for everything (a vision model for images); retries it
//   random          a random capable model per attempt
// Each request gets at most RETRY_BUDGET attempts. Cost is what the providers bill (failed attempts
// that produced output are billed too: real spend), per completed task. Target: router completion
// >= 97 % of the oracle's at <= 1.2x its cost per completed task. BENCH_N sets the request count.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Catalog, type CatalogOffering } from '../../src/catalog/catalog.js';
import { callCostMicros } from '../../src/catalog/prices.js';
import { Router, seededRandom } from '../../src/routing/router.js';
import { Signals } from '../../src/routing/signals.js';
import type { AttemptOutcome, PlanOk, RouteRequest, ScoredCandidate, TaskType } from '../../src/routing/types.js';

const N = Number(process.env.BENCH_N ?? 20_000);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const RETRY_BUDGET = 3;
const ARRIVAL_MS = 100; // one request every 100 ms of simulated time
const START = Date.UTC(2026, 10, 24, 12, 0, 0);
const OUTAGE_AT = START + Math.floor(N * 0.4) * ARRIVAL_MS;
const OUTAGE_MS = 180_000;
const PRICE_AT = START + Math.floor(N * 0.65) * ARRIVAL_MS;
const PRICE_SYNC_MS = 60_000; // the router's catalog reads /models this often
// Rate limits come in episodes per (provider, model): in each 30 s slot, with this probability, an
// episode of 2-8 s during which every call gets 429 with Retry-After = the time left (as real per-key
// limits behave). 5xx are independent per call.
const RATE_LIMIT_SLOT_MS = 30_000;
const RATE_LIMIT_EPISODE_P = 0.25;
const TRANSIENT_5XX = 0.01;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness keyed by (request, model, attempt, purpose): the same draw for every strategy.
function hash32(...parts: number[]): number {
  let h = 0x811c9dc5 ^ SEED;
  for (const p of parts) {
    h = Math.imul(h ^ (p & 0xffff), 0x01000193);
    h = Math.imul(h ^ (p >>> 16), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return h >>> 0;
}
const u01 = (...parts: number[]) => hash32(...parts) / 4294967296;
function gauss(...parts: number[]): number {
  const a = Math.max(u01(...parts, 1), 1e-12);
  const b = u01(...parts, 2);
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
}
function strId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
const logistic = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

// ---------------------------------------------------------------------------------------------
// The world: two catalogs. `truth` changes price the moment it changes (billing, the oracle);
// `live` learns it at the next /models sync (the router and the price-aware baselines).
const truth = new Catalog({ now: START });
const live = new Catalog({ now: START });

const TASKS: readonly TaskType[] = ['chat', 'code', 'tool_use', 'extraction', 'reasoning', 'summarization', 'drafting', 'vision'];
const TASK_MIX: Readonly<Record<TaskType, number>> = { chat: 0.22, code: 0.15, tool_use: 0.15, extraction: 0.1, reasoning: 0.1, summarization: 0.1, drafting: 0.1, vision: 0.08 };
const TASK_ID = new Map(TASKS.map((t, i) => [t, i]));

// Hidden difficulty curve (not the router's TASK_DIFFICULTY / scale) and surprises per (task, model).
const HIDDEN_DIFFICULTY: Readonly<Record<TaskType, number>> = { chat: -2, drafting: 4, summarization: 6, vision: 3, extraction: 8, tool_use: 16, code: 24, reasoning: 26 };
const HIDDEN_SCALE = 7;
const SURPRISE_SD = 0.6; // logits
const REQUEST_HARDNESS_SD = 0.7; // logits, shared by every model on one request

function hiddenP(task: TaskType, modelId: string): number {
  const m = truth.model(modelId)!;
  let idx = m.intelligenceIndex;
  if (task === 'reasoning' && m.capabilities.includes('reasoning')) idx += 6;
  if (task === 'code' && m.capabilities.includes('code')) idx += 8;
  const x = (idx - HIDDEN_DIFFICULTY[task]) / HIDDEN_SCALE + SURPRISE_SD * gauss(7, TASK_ID.get(task)!, strId(modelId));
  return 0.02 + 0.96 * logistic(x);
}
const HIDDEN = new Map<string, number>();
for (const t of TASKS) for (const m of truth.models()) HIDDEN.set(`${t}|${m.id}`, hiddenP(t, m.id));
/** Mean over request hardness of the per-request probability (what "the hidden probability" is). */
function pTrueMean(task: TaskType, modelId: string): number {
  return HIDDEN.get(`${task}|${modelId}`)!;
}
function pOnRequest(task: TaskType, modelId: string, hardness: number): number {
  const p = pTrueMean(task, modelId);
  return logistic(logit(p) - hardness);
}

// ---------------------------------------------------------------------------------------------
// Requests.
interface SimRequest {
  i: number;
  at: number;
  task: TaskType;
  req: RouteRequest;
  inputTokens: number;
  hardness: number;
}
const IMAGE = { type: 'image_url' as const, image_url: { url: 'https://example.com/x.png' } };
const TOOL = { type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object' } } };
const INPUT_TOKENS: Readonly<Record<TaskType, number>> = { chat: 400, code: 1_500, tool_use: 1_200, extraction: 2_000, reasoning: 500, summarization: 8_000, drafting: 300, vision: 1_500 };

function makeRequest(i: number): SimRequest {
  let r = u01(1, i);
  let task: TaskType = 'chat';
  for (const t of TASKS) {
    r -= TASK_MIX[t];
    if (r <= 0) {
      task = t;
      break;
    }
  }
  const inputTokens = Math.max(50, Math.round(INPUT_TOKENS[task] * Math.exp(0.5 * gauss(2, i))));
  const messages: RouteRequest['messages'] =
    task === 'vision' ? [{ role: 'user', content: [{ type: 'text', text: 'describe' }, IMAGE] }] : [{ role: 'user', content: 'x' }];
  const req: RouteRequest = { messages, taskType: task, maxOutputTokens: task === 'reasoning' ? 8_000 : 4_000 };
  if (task === 'tool_use') req.tools = [TOOL];
  if (task === 'extraction') req.responseFormat = { type: 'json_schema', json_schema: { name: 'x', schema: {} } };
  const c = u01(3, i);
  if (c < 0.1) req.caps = { minFinishProbability: 0.8 };
  else if (c < 0.2) req.caps = { costCeilingMicros: 20_000 };
  return { i, at: START + i * ARRIVAL_MS, task, req, inputTokens, hardness: REQUEST_HARDNESS_SD * gauss(4, i) };
}

// ---------------------------------------------------------------------------------------------
// The outage and the price drop, chosen from the world before the run (not from any strategy).
/** ms left of a rate-limit episode on this offering at t (0: none). */
function rateLimitedFor(providerId: string, modelId: string, t: number): number {
  const id = strId(`${providerId}/${modelId}`);
  const slot = Math.floor((t - START) / RATE_LIMIT_SLOT_MS);
  for (const k of [slot, slot - 1]) {
    if (k < 0 || u01(20, id, k) >= RATE_LIMIT_EPISODE_P) continue;
    const from = START + k * RATE_LIMIT_SLOT_MS + Math.floor(u01(21, id, k) * RATE_LIMIT_SLOT_MS);
    const to = from + 2_000 + Math.floor(u01(22, id, k) * 6_000);
    if (t >= from && t < to) return to - t;
  }
  return 0;
}
function downAt(providerId: string, t: number): boolean {
  return providerId === OUTAGE_PROVIDER && t >= OUTAGE_AT && t < OUTAGE_AT + OUTAGE_MS;
}
let OUTAGE_PROVIDER = '';
let PRICE_DROP: { providerId: string; modelId: string; input: number; output: number } = { providerId: '', modelId: '', input: 0, output: 0 };

// ---------------------------------------------------------------------------------------------
// One simulated provider call.
interface CallResult {
  outcome: AttemptOutcome;
  ms: number;
  ttftMs?: number;
  outputTokens: number;
  costMicros: number;
  retryAfterMs?: number;
}
const EXPECTED_OUT: Readonly<Record<TaskType, number>> = { chat: 350, code: 900, tool_use: 150, extraction: 350, reasoning: 1_800, summarization: 450, drafting: 700, vision: 300 };

function simulateCall(sr: SimRequest, o: CatalogOffering, attempt: number, t: number): CallResult {
  const mid = strId(`${o.providerId}/${o.modelId}`);
  if (downAt(o.providerId, t)) return { outcome: 'overloaded', ms: 400, outputTokens: 0, costMicros: 0 };
  const limited = rateLimitedFor(o.providerId, o.modelId, t);
  if (limited > 0) return { outcome: 'rate_limited', ms: 120, outputTokens: 0, costMicros: 0, retryAfterMs: Math.ceil(limited / 1000) * 1000 };
  if (u01(10, sr.i, mid, attempt) < TRANSIENT_5XX) return { outcome: 'overloaded', ms: 300, outputTokens: 0, costMicros: 0 };
  const ttft = o.defaultTtftMs * (0.6 + 0.8 * u01(12, sr.i, mid, attempt)) * (u01(13, sr.i, mid, attempt) < 0.05 ? 3 : 1);
  const thinking = o.capabilities.includes('reasoning') && (sr.task === 'reasoning' || sr.task === 'code') ? 1.6 : 1;
  const out = Math.min(sr.req.maxOutputTokens ?? 4_000, Math.max(10, Math.round(EXPECTED_OUT[sr.task] * thinking * Math.exp(0.4 * gauss(14, sr.i, mid, attempt)))));
  const tps = o.referenceOutputTokensPerSecond * (0.8 + 0.4 * u01(15, sr.i, mid, attempt));
  const ms = Math.round(ttft + (out * 1000) / tps);
  const price = truth.offering(o.providerId, o.modelId)!.price;
  const costMicros = callCostMicros(sr.inputTokens, out, price);
  const ok = u01(16, sr.i, strId(o.modelId), attempt) < pOnRequest(sr.task, o.modelId, sr.hardness);
  if (ok) return { outcome: 'success', ms, ttftMs: Math.round(ttft), outputTokens: out, costMicros };
  // A failure to finish: the model answered, wrongly (billed).
  const outcome: AttemptOutcome = sr.task === 'tool_use' || sr.task === 'extraction' || u01(17, sr.i, mid) < 0.5 ? 'invalid_output' : 'refusal';
  return { outcome, ms, ttftMs: Math.round(ttft), outputTokens: out, costMicros };
}

// ---------------------------------------------------------------------------------------------
// Strategies.
interface Tally {
  requests: number;
  completed: number;
  noEligible: number;
  attempts: number;
  costMicros: number;
  latencies: number[];
  firstPicks: { at: number; providerId: string; modelId: string; probe: boolean }[];
  attemptsOnDownProvider: number;
}
function tally(): Tally {
  return { requests: 0, completed: 0, noEligible: 0, attempts: 0, costMicros: 0, latencies: [], firstPicks: [], attemptsOnDownProvider: 0 };
}

interface Strategy {
  name: string;
  /** Ordered attempts for this request (or null: no eligible model). */
  choose(sr: SimRequest, now: number): ScoredCandidate[] | null;
  /** Per-attempt availability check and feedback (the router's; others ignore). */
  acquire?(c: ScoredCandidate, now: number, spent: number, plan: unknown): boolean;
  report?(sr: SimRequest, c: ScoredCandidate, r: CallResult, start: number, end: number, afterModelFailure: boolean): void;
  /** Retry the same candidate (static pin) instead of walking the list. */
  retrySame?: boolean;
  t: Tally;
  lastPlan?: unknown;
}

/** A planner that never learns: capability, context and cost-cap filters with the prior only (bar 0). */
function staticPlanner(catalog: Catalog): (sr: SimRequest, now: number) => ScoredCandidate[] | null {
  const router = new Router({ catalog, signals: new Signals(catalog), defaults: { defaultBar: 0, exploration: 0 } });
  return (sr, now) => {
    const caps = sr.req.caps ? { ...sr.req.caps, minFinishProbability: undefined } : undefined;
    const plan = router.plan({ ...sr.req, caps }, { now, inputTokens: sr.inputTokens });
    return plan.ok ? plan.attempts : null;
  };
}

function byCostThenLatency(a: ScoredCandidate, b: ScoredCandidate): number {
  return a.expectedCostMicros - b.expectedCostMicros || a.predictedLatencyMs - b.predictedLatencyMs;
}
function diversify(list: ScoredCandidate[]): ScoredCandidate[] {
  if (list.length > 2 && list[1]!.providerId === list[0]!.providerId) {
    const j = list.findIndex((c, k) => k > 1 && c.providerId !== list[0]!.providerId);
    if (j > 0) list.splice(1, 0, list.splice(j, 1)[0]!);
  }
  return list;
}

let routerSignals: Signals | undefined;
function makeRouterStrategy(): Strategy {
  // BENCH_PRIOR / BENCH_HARDW / BENCH_EXPLORE: parameter sweeps (defaults are the library's).
  const outcomes = {
    ...(process.env.BENCH_PRIOR ? { priorStrength: Number(process.env.BENCH_PRIOR) } : {}),
    ...(process.env.BENCH_HARDW ? { hardRequestFailureWeight: Number(process.env.BENCH_HARDW) } : {}),
  };
  const signals = new Signals(live, { outcomes });
  const router = new Router({ catalog: live, signals, defaults: { exploration: Number(process.env.BENCH_EXPLORE ?? 0.02) }, random: seededRandom(SEED) });
  routerSignals = signals;
  const s: Strategy = {
    name: 'router',
    t: tally(),
    choose(sr, now) {
      const plan = router.plan(sr.req, { now, inputTokens: sr.inputTokens });
      s.lastPlan = plan;
      return plan.ok ? plan.attempts : null;
    },
    acquire(c, now, spent, plan) {
      if (router.recheck(c, (plan as PlanOk).caps, spent, now)) return false;
      return signals.tryAcquire(c.modelId, c.providerId, now);
    },
    report(sr, c, r, start, end, afterModelFailure) {
      signals.recordAttempt({
        modelId: c.modelId,
        providerId: c.providerId,
        taskType: sr.task,
        outcome: r.outcome,
        ...(r.ttftMs !== undefined ? { ttftMs: r.ttftMs } : {}),
        totalMs: r.ms,
        outputTokens: r.outputTokens,
        ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}),
        at: end,
        startedAt: start,
        ...(afterModelFailure ? { afterModelFailure } : {}),
      });
    },
  };
  return s;
}

function makeOracle(): Strategy {
  const plan = staticPlanner(truth);
  return {
    name: 'oracle',
    t: tally(),
    choose(sr, now) {
      const all = plan(sr, now);
      if (!all) return null;
      const bar = sr.req.caps?.minFinishProbability ?? 0.6;
      const ok = all.filter((c) => pTrueMean(sr.task, c.modelId) >= bar && !downAt(c.providerId, now) && rateLimitedFor(c.providerId, c.modelId, now) === 0);
      if (!ok.length) return null;
      return diversify(ok.sort(byCostThenLatency));
    },
  };
}

function makeMostCapable(): Strategy {
  const plan = staticPlanner(live);
  return {
    name: 'most_capable',
    t: tally(),
    choose(sr, now) {
      const all = plan(sr, now);
      if (!all) return null;
      const idx = (c: ScoredCandidate) => live.model(c.modelId)!.intelligenceIndex;
      return all.sort((a, b) => idx(b) - idx(a) || byCostThenLatency(a, b));
    },
  };
}

function makeCheapest(): Strategy {
  const plan = staticPlanner(live);
  return {
    name: 'cheapest',
    t: tally(),
    choose(sr, now) {
      const all = plan(sr, now);
      return all ? all.sort(byCostThenLatency) : null;
    },
  };
}

function makeStaticPin(model: string, visionModel: string): Strategy {
  const plan = staticPlanner(live);
  return {
    name: `static_pin`,
    t: tally(),
    retrySame: true,
    choose(sr, now) {
      const all = plan(sr, now);
      if (!all) return null;
      const want = sr.task === 'vision' ? visionModel : model;
      const c = all.find((x) => x.modelId === want);
      return c ? [c] : null;
    },
  };
}

function makeRandom(): Strategy {
  const plan = staticPlanner(live);
  const rnd = seededRandom(SEED + 99);
  return {
    name: 'random',
    t: tally(),
    choose(sr, now) {
      const all = plan(sr, now);
      if (!all) return null;
      for (let i = all.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      return all;
    },
  };
}

function run(s: Strategy, sr: SimRequest): void {
  const t = s.t;
  t.requests++;
  const list = s.choose(sr, sr.at);
  if (!list || list.length === 0) {
    t.noEligible++;
    if (DEBUG && s.name === 'router') { const k = `ne|${sr.task}|${JSON.stringify(sr.req.caps ?? {})}`; neCounts.set(k, (neCounts.get(k) ?? 0) + 1); }
    return;
  }
  let elapsed = 0;
  let spent = 0;
  let tries = 0;
  let first = true;
  let done = false;
  let modelFailed = false;
  for (let k = 0; k < list.length && tries < RETRY_BUDGET && !done; k++) {
    const c = list[k]!;
    const reps = s.retrySame ? RETRY_BUDGET : 1;
    for (let rep = 0; rep < reps && tries < RETRY_BUDGET; rep++) {
      const now = sr.at + elapsed;
      if (s.acquire && !s.acquire(c, now, spent, s.lastPlan)) break;
      const o = truth.offering(c.providerId, c.modelId)!;
      if (first) {
        const b = (s.lastPlan as PlanOk | undefined)?.attempts?.[0];
        t.firstPicks.push({ at: sr.at, providerId: c.providerId, modelId: c.modelId, probe: b === c && c.breaker === 'half_open' });
        first = false;
      }
      if (downAt(c.providerId, now)) t.attemptsOnDownProvider++;
      const r = simulateCall(sr, o, tries, now);
      tries++;
      t.attempts++;
      elapsed += r.ms;
      spent += r.costMicros;
      s.report?.(sr, c, r, now, sr.at + elapsed, modelFailed);
      if (r.outcome === 'success') {
        done = true;
        break;
      }
      if (r.outcome === 'refusal' || r.outcome === 'invalid_output') {
        modelFailed = true;
        break; // another model, not the same again
      }
    }
  }
  t.costMicros += spent;
  t.latencies.push(elapsed);
  if (done) t.completed++;
  if (DEBUG) {
    const phase = sr.at < START + 2_000 * ARRIVAL_MS ? 'warm' : sr.at < OUTAGE_AT ? 'pre' : sr.at < OUTAGE_AT + OUTAGE_MS ? 'outage' : sr.at < PRICE_AT ? 'mid' : 'post';
    const pk = `${s.name}|phase:${phase}`;
    const pd = debug.get(pk) ?? { n: 0, done: 0, cost: 0, firsts: new Map<string, number>() };
    pd.n++;
    pd.cost += spent;
    if (done) pd.done++;
    debug.set(pk, pd);
    const k = phase === 'post' ? `${s.name}|post|${sr.task}` : `${s.name}|${sr.task}`;
    const d = debug.get(k) ?? { n: 0, done: 0, cost: 0, firsts: new Map<string, number>() };
    d.n++;
    d.cost += spent;
    if (done) d.done++;
    const f = list[0]!;
    const fk = `${f.modelId}`;
    d.firsts.set(fk, (d.firsts.get(fk) ?? 0) + 1);
    debug.set(k, d);
  }
}
const DEBUG = !!process.env.BENCH_DEBUG;
const neCounts = new Map<string, number>();
const debug = new Map<string, { n: number; done: number; cost: number; firsts: Map<string, number> }>();

// ---------------------------------------------------------------------------------------------
// Main.
const requests = Array.from({ length: N }, (_, i) => makeRequest(i));

{
  // The outage hits the provider the oracle relies on most for first picks before it; the price drop
  // goes to the strongest model that the oracle never picks first (so a cheaper price matters).
  const oracle = makeOracle();
  const counts = new Map<string, number>();
  const firstModels = new Map<string, number>();
  for (const sr of requests.slice(0, Math.floor(N * 0.4))) {
    const l = oracle.choose(sr, sr.at);
    if (l?.[0]) {
      counts.set(l[0].providerId, (counts.get(l[0].providerId) ?? 0) + 1);
      firstModels.set(`${l[0].providerId}/${l[0].modelId}`, 1);
    }
  }
  OUTAGE_PROVIDER = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  // The price drop (÷10) goes to the offering that would become the oracle's first pick most often.
  const sample = requests.slice(0, Math.min(2_000, N));
  let best = { n: -1, o: truth.offerings()[0]! };
  for (const o of truth.offerings()) {
    if (o.providerId === OUTAGE_PROVIDER || firstModels.has(`${o.providerId}/${o.modelId}`)) continue;
    const before = o.price;
    truth.setPrice(o.providerId, o.modelId, { ...before, inputPerMTokMicros: Math.round(before.inputPerMTokMicros / 10), outputPerMTokMicros: Math.round(before.outputPerMTokMicros / 10) });
    let n = 0;
    for (const sr of sample) {
      const l = oracle.choose(sr, sr.at);
      if (l?.[0] && l[0].providerId === o.providerId && l[0].modelId === o.modelId) n++;
    }
    truth.setPrice(o.providerId, o.modelId, before);
    if (n > best.n) best = { n, o };
  }
  const strong = best.o;
  PRICE_DROP = { providerId: strong.providerId, modelId: strong.modelId, input: Math.round(strong.price.inputPerMTokMicros / 10), output: Math.round(strong.price.outputPerMTokMicros / 10) };
}

const strategies: Strategy[] = [makeRouterStrategy(), makeOracle(), makeMostCapable(), makeCheapest(), makeStaticPin('deepseek-v4-flash', 'qwen3-vl-235b-a22b-instruct'), makeRandom()];

/** The drop as the provider's OpenRouter-format /models list publishes it (USD per token strings). */
function modelsListAfterDrop(): unknown {
  const o = truth.offering(PRICE_DROP.providerId, PRICE_DROP.modelId)!;
  const usd = (microsPerMTok: number) => `${(microsPerMTok / 1e12).toFixed(12).replace(/0+$/, '')}`;
  return { data: [{ id: o.upstreamModel, pricing: { prompt: usd(PRICE_DROP.input), completion: usd(PRICE_DROP.output) } }] };
}

const t0 = process.hrtime.bigint();
let priceApplied = false;
let liveSynced = false;
for (const sr of requests) {
  if (!priceApplied && sr.at >= PRICE_AT) {
    truth.setPrice(PRICE_DROP.providerId, PRICE_DROP.modelId, { inputPerMTokMicros: PRICE_DROP.input, outputPerMTokMicros: PRICE_DROP.output, source: 'models-endpoint', readAt: sr.at });
    priceApplied = true;
  }
  // The live catalog reads the list at its next sync tick after the change.
  if (priceApplied && !liveSynced && (sr.at - START) % PRICE_SYNC_MS < ARRIVAL_MS && sr.at >= PRICE_AT) {
    live.applyModelsList(PRICE_DROP.providerId, modelsListAfterDrop(), sr.at, 'simulated:/models');
    liveSynced = true;
  }
  for (const s of strategies) run(s, sr);
}
const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] ?? 0;
}

const WINDOW_MS = 2_000;
function outageReaction(t: Tally): { shareBefore: number; movedOffAfterMs: number | null; backAfterRecoveryMs: number | null; attemptsOnDownProvider: number } {
  // Share of first picks (half-open probes excluded) on the provider, in 2 s windows (about 20 requests each).
  const share = (from: number, to: number) => {
    let n = 0;
    let hit = 0;
    for (const f of t.firstPicks) {
      if (f.at < from || f.at >= to) continue;
      n++;
      if (f.providerId === OUTAGE_PROVIDER && !f.probe) hit++;
    }
    return n ? hit / n : 0;
  };
  const before = share(OUTAGE_AT - 60_000, OUTAGE_AT);
  let movedOff: number | null = null;
  for (let w = OUTAGE_AT; w < OUTAGE_AT + OUTAGE_MS; w += WINDOW_MS) {
    if (share(w, w + WINDOW_MS) <= before * 0.1) {
      movedOff = w + WINDOW_MS - OUTAGE_AT;
      break;
    }
  }
  let back: number | null = null;
  const end = OUTAGE_AT + OUTAGE_MS;
  for (let w = end; w < end + 600_000; w += WINDOW_MS) {
    if (share(w, w + WINDOW_MS) >= before * 0.5) {
      back = w + WINDOW_MS - end;
      break;
    }
  }
  return { shareBefore: Math.round(before * 1000) / 1000, movedOffAfterMs: before > 0 ? movedOff : null, backAfterRecoveryMs: before > 0 ? back : null, attemptsOnDownProvider: t.attemptsOnDownProvider };
}

function priceReaction(t: Tally): { firstPickAfterMs: number | null; shareAfter: number } {
  let firstAt: number | null = null;
  let n = 0;
  let hits = 0;
  for (const f of t.firstPicks) {
    if (f.at < PRICE_AT) continue;
    n++;
    if (f.providerId === PRICE_DROP.providerId && f.modelId === PRICE_DROP.modelId) {
      hits++;
      firstAt ??= f.at;
    }
  }
  return { firstPickAfterMs: firstAt === null ? null : firstAt - PRICE_AT, shareAfter: n ? Math.round((hits / n) * 1000) / 1000 : 0 };
}

const rows = strategies.map((s) => {
  const t = s.t;
  const completionRate = t.completed / t.requests;
  const costPerCompleted = t.completed ? Math.round(t.costMicros / t.completed) : null;
  return {
    strategy: s.name,
    requests: t.requests,
    completed: t.completed,
    completionRate: Math.round(completionRate * 10_000) / 10_000,
    noEligibleModel: t.noEligible,
    attemptsPerRequest: Math.round((t.attempts / t.requests) * 1000) / 1000,
    costMicros: t.costMicros,
    costPerCompletedMicros: costPerCompleted,
    p95LatencyMs: p95(t.latencies),
    outage: outageReaction(t),
    priceDrop: priceReaction(t),
  };
});
const oracle = rows.find((r) => r.strategy === 'oracle')!;
const router = rows.find((r) => r.strategy === 'router')!;
const vsOracle = (r: (typeof rows)[number]) => ({
  completionVsOracle: Math.round((r.completionRate / oracle.completionRate) * 1000) / 1000,
  costPerCompletedVsOracle: r.costPerCompletedMicros && oracle.costPerCompletedMicros ? Math.round((r.costPerCompletedMicros / oracle.costPerCompletedMicros) * 1000) / 1000 : null,
});

const result = {
  bench: 'quality',
  at: new Date().toISOString(),
  node: process.version,
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  simulated: true,
  setup: {
    requests: N,
    seed: SEED,
    retryBudget: RETRY_BUDGET,
    arrivalMs: ARRIVAL_MS,
    taskMix: TASK_MIX,
    outage: { provider: OUTAGE_PROVIDER, atMs: OUTAGE_AT - START, durationMs: OUTAGE_MS },
    priceDrop: { ...PRICE_DROP, atMs: PRICE_AT - START, liveSyncIntervalMs: PRICE_SYNC_MS },
    transientFaults: { rateLimitEpisodes: { slotMs: RATE_LIMIT_SLOT_MS, probabilityPerSlot: RATE_LIMIT_EPISODE_P, durationMs: [2_000, 8_000] }, overloadedPerCall: TRANSIENT_5XX },
    oracleDefinition: 'knows hidden (task, model) finish probabilities, live provider health (outage, rate-limit episodes) and true prices; cheapest candidate whose true probability clears the bar, same fallback order and retry budget',
    costNote: 'provider spend including billed failed attempts, integer micro-USD, per completed task',
  },
  results: rows.map((r) => ({ ...r, ...vsOracle(r) })),
  target: {
    completionVsOracleMin: 0.97,
    costPerCompletedVsOracleMax: 1.2,
    router: vsOracle(router),
    met: vsOracle(router).completionVsOracle >= 0.97 && (vsOracle(router).costPerCompletedVsOracle ?? Infinity) <= 1.2,
  },
  wallMs: Math.round(wallMs),
};
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../../bench/results/quality.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

console.log(`quality bench: ${N} requests, outage on ${OUTAGE_PROVIDER}, price drop on ${PRICE_DROP.providerId}/${PRICE_DROP.modelId} (÷10)`);
console.log('strategy       completion  vsOracle  $/completed  vsOracle  p95 ms  attempts  noElig  outage share:movedOff/back/wasted'.padEnd(132) + ' price first/share');
for (const r of result.results) {
  console.log(
    `${r.strategy.padEnd(14)} ${(r.completionRate * 100).toFixed(2).padStart(9)}%  ${String(r.completionVsOracle).padStart(8)}  ${String(r.costPerCompletedMicros).padStart(11)}  ${String(r.costPerCompletedVsOracle).padStart(8)}  ${String(r.p95LatencyMs).padStart(6)}  ${String(r.attemptsPerRequest).padStart(8)}  ${String(r.noEligibleModel).padStart(6)}  ${r.outage.shareBefore}:${r.outage.movedOffAfterMs}/${r.outage.backAfterRecoveryMs}/${r.outage.attemptsOnDownProvider}`.padEnd(132) +
      ` ${String(r.priceDrop.firstPickAfterMs)}/${r.priceDrop.shareAfter}`,
  );
}
if (DEBUG) {
  console.log([...neCounts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8));
  for (const [k, c] of Object.entries(routerSignals!.exportState(0).outcomes)) {
    const [task, model] = k.split('|') as [TaskType, string];
    const est = routerSignals!.outcomes.peek(task, model)!.mean;
    if (Math.abs(est - pTrueMean(task, model)) > 0.1 && c.observations > 5) console.log(`cell ${k} obs ${c.observations} s ${c.successes.toFixed(1)} f ${c.failures.toFixed(1)} est ${est.toFixed(2)} true ${pTrueMean(task, model).toFixed(2)}`);
  }
  for (const phase of ['warm', 'pre', 'outage', 'mid', 'post']) {
    const r = debug.get(`router|phase:${phase}`)!;
    const o = debug.get(`oracle|phase:${phase}`)!;
    console.log(`${phase.padEnd(7)} router done ${(r.done / r.n).toFixed(3)} $/done ${Math.round(r.cost / r.done)} | oracle done ${(o.done / o.n).toFixed(3)} $/done ${Math.round(o.cost / o.done)} | ratio ${(r.cost / r.done / (o.cost / o.done)).toFixed(3)}`);
  }
  for (const task of TASKS) {
    for (const name of ['router', 'oracle']) {
      const d = debug.get(`${name}|${process.env.BENCH_DEBUG === 'post' ? 'post|' : ''}${task}`);
      if (!d) continue;
      const top = [...d.firsts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([m, n]) => `${m}:${n}(p=${pTrueMean(task, m).toFixed(2)})`);
      console.log(`${task.padEnd(13)} ${name.padEnd(7)} done ${(d.done / d.n).toFixed(3)} $/done ${Math.round(d.cost / d.done)}  ${top.join(' ')}`);
    }
  }
}
console.log(`target (>= 0.97 completion, <= 1.2x cost vs oracle): ${result.target.met ? 'met' : 'NOT met'} → bench/results/quality.json (${Math.round(wallMs)} ms)`);
