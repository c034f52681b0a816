// `npm run bench:router`: decision time of router.plan over the full catalog (every offering scored),
// on a mix of request shapes with live signals populated (latency samples, learned outcomes, a few open
// breakers). Baselines measured in the same run: classify alone and token estimation alone.
// Target: plan p99 < 100 µs. BENCH_N sets the number of timed decisions (default 50_000).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Catalog } from '../../src/catalog/catalog.js';
import { classify } from '../../src/routing/classify.js';
import { estimateInputTokens } from '../../src/routing/estimate.js';
import { Router, seededRandom } from '../../src/routing/router.js';
import { Signals } from '../../src/routing/signals.js';
import { TASK_TYPES, type RouteRequest } from '../../src/routing/types.js';

const N = Number(process.env.BENCH_N ?? 50_000);
const WARMUP = Math.min(10_000, Math.max(1_000, Math.floor(N / 5)));

const tool = { type: 'function' as const, function: { name: 'search', description: 'Search the web', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } };
const img = { type: 'image_url' as const, image_url: { url: 'https://example.com/a.png' } };
const doc = 'Revenue grew in the third quarter while costs stayed flat; the board approved the plan. '.repeat(600); // ~52 KB

const requests: RouteRequest[] = [
  { messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'hey, what should I cook tonight?' }] },
  { messages: [{ role: 'user', content: 'Write a TypeScript function that debounces a callback.\n```ts\nconst x = 1;\n```' }], maxOutputTokens: 2_000 },
  { messages: [{ role: 'user', content: 'Prove that there are infinitely many primes, step by step.' }] },
  { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is on this receipt?' }, img] }] },
  { messages: [{ role: 'user', content: 'Extract name and date' }], responseFormat: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } },
  { messages: [{ role: 'user', content: 'Find flights to Lisbon' }], tools: [tool, tool, tool] },
  { messages: [{ role: 'user', content: `${doc}\n\nSummarize the above in five bullets.` }], caps: { costCeilingMicros: 20_000 } },
  { messages: [{ role: 'user', content: 'Draft an email to the team announcing the offsite' }], caps: { latencyTargetMs: 8_000 } },
  { messages: [{ role: 'user', content: 'hello' }], pin: { provider: 'alibaba' } },
  { messages: [{ role: 'user', content: 'Explain TCP slow start' }], caps: { minFinishProbability: 0.9, costCeilingMicros: 5_000 } },
];

const catalog = new Catalog();
const signals = new Signals(catalog);
const router = new Router({ catalog, signals, defaults: { exploration: 0.02 }, random: seededRandom(1) });

// Populate live signals as a running server would have them.
const now0 = Date.now();
const rnd = seededRandom(2);
for (const o of catalog.offerings()) {
  for (let i = 0; i < 40; i++) {
    const ttft = o.defaultTtftMs * (0.5 + rnd());
    const tokens = 100 + Math.floor(rnd() * 800);
    signals.recordAttempt({
      modelId: o.modelId,
      providerId: o.providerId,
      taskType: TASK_TYPES[i % TASK_TYPES.length]!,
      outcome: rnd() < 0.85 ? 'success' : 'invalid_output',
      ttftMs: ttft,
      totalMs: ttft + (tokens * 1000) / o.referenceOutputTokensPerSecond,
      outputTokens: tokens,
      at: now0 - 60_000 + i * 1000,
    });
  }
}
for (const o of catalog.offerings().slice(0, 4)) {
  signals.recordAttempt({ modelId: o.modelId, providerId: o.providerId, taskType: 'chat', outcome: 'rate_limited', retryAfterMs: 3_600_000, at: now0 });
}

function quantiles(ns: Float64Array): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(ns).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  let sum = 0;
  for (const v of s) sum += v;
  const us = (v: number) => Math.round(v / 10) / 100; // ns → µs, 2 decimals
  return { p50: us(q(0.5)), p90: us(q(0.9)), p99: us(q(0.99)), max: us(s[s.length - 1]!), mean: us(sum / s.length) };
}

function time(label: string, fn: (r: RouteRequest, i: number) => unknown): ReturnType<typeof quantiles> {
  for (let i = 0; i < WARMUP; i++) fn(requests[i % requests.length]!, i);
  const samples = new Float64Array(N);
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const r = requests[i % requests.length]!;
    const t0 = process.hrtime.bigint();
    const out = fn(r, i);
    samples[i] = Number(process.hrtime.bigint() - t0);
    if (out) sink++;
  }
  const q = quantiles(samples);
  console.log(`${label.padEnd(22)} p50 ${q.p50} µs  p90 ${q.p90} µs  p99 ${q.p99} µs  max ${q.max} µs  (${sink === N ? 'ok' : 'sink'})`);
  return q;
}

console.log(`router bench: ${catalog.offerings().length} offerings (${catalog.models().length} models), ${requests.length} request shapes, N=${N}`);
const estimate = time('estimateInputTokens', (r) => estimateInputTokens(r) > 0);
const cls = time('classify', (r) => classify(r).taskType);
let okPlans = 0;
let noEligible = 0;
const plan = time('router.plan', (r, i) => {
  const p = router.plan(r, { now: now0 + i });
  if (p.ok) okPlans++;
  else noEligible++;
  return true;
});

const result = {
  bench: 'router',
  at: new Date().toISOString(),
  node: process.version,
  /** The machine is shared: wall-clock tails include preemption by other processes. */
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  n: N,
  offerings: catalog.offerings().length,
  models: catalog.models().length,
  requestShapes: requests.length,
  unitsNote: 'microseconds per call, measured with process.hrtime.bigint around each call after warm-up',
  plan,
  baselines: { classify: cls, estimateInputTokens: estimate },
  ratios: { planP50OverClassifyP50: Math.round((plan.p50 / cls.p50) * 10) / 10 },
  target: { planP99Us: 100, met: plan.p99 < 100 },
  outcomes: { ok: okPlans, noEligibleModel: noEligible },
};
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../../bench/results/router.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
console.log(`plan p99 ${plan.p99} µs (target < 100 µs: ${result.target.met ? 'met' : 'NOT met'}) → bench/results/router.json`);
