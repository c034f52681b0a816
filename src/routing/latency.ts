// Latency per (provider, model), measured on our own calls: a ring of recent samples weighted by age
// (half-life decay), summarized as weighted p50/p95 of time to first token, output tokens/s and total
// time. Until enough (decayed) samples exist, the prediction uses the catalog's reference speed and a
// default time to first token. Stats are computed lazily and cached: the router reads them per
// candidate on every decision, the sort happens only when samples arrive or the cache ages out.

export interface LatencyOptions {
  /** Samples kept per (provider, model). */
  capacity?: number;
  /** Age at which a sample weighs half. */
  halfLifeMs?: number;
  /** Effective (decayed) samples needed before measured values replace the reference. */
  minSamples?: number;
  /** Cached stats are recomputed at most this often when no sample arrives (decay moves slowly). */
  recomputeMs?: number;
  /**
   * When samples do arrive, recompute at most this often (or after `recomputeAfterSamples` new samples):
   * on a busy server every call adds a sample, and a sort per decision per (provider, model) is waste.
   */
  minRecomputeMs?: number;
  recomputeAfterSamples?: number;
  /** Fewer output tokens than this make no tokens/s sample (too noisy). */
  minTokensForSpeed?: number;
}

export interface LatencyStats {
  /** Effective sample weight behind ttft / total. */
  n: number;
  /** Effective sample weight behind tokens/s. */
  nSpeed: number;
  ttftP50: number;
  ttftP95: number;
  tpsP50: number;
  totalP50: number;
  totalP95: number;
}

export const DEFAULT_LATENCY_OPTIONS: Required<LatencyOptions> = {
  capacity: 64,
  halfLifeMs: 10 * 60_000,
  minSamples: 5,
  recomputeMs: 5_000,
  minRecomputeMs: 250,
  recomputeAfterSamples: 8,
  minTokensForSpeed: 16,
};

export type LatencySampleTuple = [at: number, ttftMs: number, tokensPerSec: number, totalMs: number];

const EMPTY: LatencyStats = Object.freeze({ n: 0, nSpeed: 0, ttftP50: NaN, ttftP95: NaN, tpsP50: NaN, totalP50: NaN, totalP95: NaN });

export class LatencyWindow {
  readonly #o: Required<LatencyOptions>;
  #at: Float64Array;
  #ttft: Float64Array;
  #tps: Float64Array;
  #total: Float64Array;
  #next = 0;
  #size = 0;
  #stats: LatencyStats = EMPTY;
  #computedAt = -Infinity;
  #dirty = false;
  #addedSinceCompute = 0;

  constructor(options: Required<LatencyOptions>) {
    this.#o = options;
    const c = options.capacity;
    this.#at = new Float64Array(c);
    this.#ttft = new Float64Array(c);
    this.#tps = new Float64Array(c);
    this.#total = new Float64Array(c);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds one successful call. NaN for an unknown part (e.g. tokens/s on a tiny answer). */
  add(at: number, ttftMs: number, totalMs: number, outputTokens: number | undefined): void {
    let tps = NaN;
    if (outputTokens !== undefined && outputTokens >= this.#o.minTokensForSpeed && totalMs > ttftMs) {
      tps = (outputTokens * 1000) / (totalMs - ttftMs);
    }
    this.#push(at, ttftMs, tps, totalMs);
  }

  #push(at: number, ttft: number, tps: number, total: number): void {
    const i = this.#next;
    this.#at[i] = at;
    this.#ttft[i] = ttft;
    this.#tps[i] = tps;
    this.#total[i] = total;
    this.#next = (i + 1) % this.#o.capacity;
    if (this.#size < this.#o.capacity) this.#size++;
    this.#dirty = true;
    this.#addedSinceCompute++;
  }

  stats(now: number): LatencyStats {
    if (this.#size === 0) return EMPTY;
    const age = now - this.#computedAt;
    const fresh = age >= 0 && age < this.#o.recomputeMs;
    if (fresh) {
      if (!this.#dirty) return this.#stats;
      // New samples: batch them unless the cache is still below the sample threshold (it matters then).
      const settled = Math.round(this.#stats.n) > this.#o.minSamples;
      if (settled && age < this.#o.minRecomputeMs && this.#addedSinceCompute < this.#o.recomputeAfterSamples) return this.#stats;
    }
    this.#stats = this.#compute(now);
    this.#computedAt = now;
    this.#dirty = false;
    this.#addedSinceCompute = 0;
    return this.#stats;
  }

  #compute(now: number): LatencyStats {
    const n = this.#size;
    const w = new Float64Array(n);
    const k = Math.LN2 / this.#o.halfLifeMs;
    let sum = 0;
    let sumSpeed = 0;
    for (let i = 0; i < n; i++) {
      const age = Math.max(0, now - this.#at[i]!);
      const wi = Math.exp(-k * age);
      w[i] = wi;
      sum += wi;
      if (!Number.isNaN(this.#tps[i]!)) sumSpeed += wi;
    }
    return {
      n: sum,
      nSpeed: sumSpeed,
      ttftP50: weightedQuantile(this.#ttft, w, n, 0.5),
      ttftP95: weightedQuantile(this.#ttft, w, n, 0.95),
      tpsP50: weightedQuantile(this.#tps, w, n, 0.5),
      totalP50: weightedQuantile(this.#total, w, n, 0.5),
      totalP95: weightedQuantile(this.#total, w, n, 0.95),
    };
  }

  toJSON(): LatencySampleTuple[] {
    const out: LatencySampleTuple[] = [];
    // Oldest first, so a re-import keeps the ring order.
    const start = this.#size < this.#o.capacity ? 0 : this.#next;
    for (let j = 0; j < this.#size; j++) {
      const i = (start + j) % this.#o.capacity;
      out.push([this.#at[i]!, this.#ttft[i]!, this.#tps[i]!, this.#total[i]!]);
    }
    return out;
  }

  /** Replaces (or merges into, keeping the newest) the samples. NaN is carried as null in JSON. */
  load(samples: readonly (readonly (number | null)[])[], merge: boolean): void {
    const all: LatencySampleTuple[] = merge ? this.toJSON() : [];
    const seen = new Set(all.map((s) => `${s[0]}:${s[3]}`));
    for (const s of samples) {
      const t: LatencySampleTuple = [num(s[0]), num(s[1]), num(s[2]), num(s[3])];
      if (!Number.isFinite(t[0])) continue;
      const key = `${t[0]}:${t[3]}`;
      if (seen.has(key)) continue;
      seen.add(key);
      all.push(t);
    }
    all.sort((a, b) => a[0] - b[0]);
    this.#next = 0;
    this.#size = 0;
    for (const t of all.slice(-this.#o.capacity)) this.#push(t[0], t[1], t[2], t[3]);
    this.#dirty = true;
  }
}

function num(v: number | null | undefined): number {
  return typeof v === 'number' ? v : NaN;
}

/** Weighted quantile of the non-NaN values (NaN when none). */
function weightedQuantile(values: Float64Array, weights: Float64Array, n: number, q: number): number {
  const idx: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isNaN(values[i]!)) {
      idx.push(i);
      total += weights[i]!;
    }
  }
  if (idx.length === 0 || total <= 0) return NaN;
  idx.sort((a, b) => values[a]! - values[b]!);
  const target = q * total;
  let acc = 0;
  for (const i of idx) {
    acc += weights[i]!;
    if (acc >= target) return values[i]!;
  }
  return values[idx[idx.length - 1]!]!;
}

/** What the router uses: measured where there are enough samples, else the reference. */
export interface LatencyPrediction {
  ttftMs: number;
  tokensPerSec: number;
  source: 'measured' | 'reference';
}

export function predictLatency(
  stats: LatencyStats,
  minSamples: number,
  referenceTtftMs: number,
  referenceTokensPerSec: number,
  out: LatencyPrediction,
): LatencyPrediction {
  // Effective (decayed) counts, rounded: five fresh samples count as five, not 4.9999.
  const ttftOk = Math.round(stats.n) >= minSamples && Number.isFinite(stats.ttftP50);
  const tpsOk = Math.round(stats.nSpeed) >= minSamples && Number.isFinite(stats.tpsP50) && stats.tpsP50 > 0;
  out.ttftMs = ttftOk ? stats.ttftP50 : referenceTtftMs;
  out.tokensPerSec = tpsOk ? stats.tpsP50 : referenceTokensPerSec;
  out.source = ttftOk || tpsOk ? 'measured' : 'reference';
  return out;
}
