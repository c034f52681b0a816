// Order statistics for benchmark samples. Percentiles use the nearest-rank method on a sorted copy
// (no interpolation: a reported p99 is a latency that some request really had).

/** Nearest-rank percentile (p in [0, 100]) of an ascending-sorted array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[n - 1]!;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

/** Percentile of unsorted samples (sorts a copy). */
export function percentile(samples: ArrayLike<number>, p: number): number {
  return percentileSorted(Float64Array.from(samples).sort(), p);
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** n, mean and the usual percentiles; values rounded to `digits` decimals (ms → 3 = µs resolution). */
export function summarize(samples: ArrayLike<number>, digits = 3): Summary {
  const s = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  const r = (v: number) => round(v, digits);
  return {
    n: s.length,
    mean: r(s.length ? sum / s.length : Number.NaN),
    p50: r(percentileSorted(s, 50)),
    p90: r(percentileSorted(s, 90)),
    p99: r(percentileSorted(s, 99)),
    p999: r(percentileSorted(s, 99.9)),
    max: r(s.length ? s[s.length - 1]! : Number.NaN),
  };
}

/** Median of a few repetition results (the middle one, or the mean of the two middle ones). */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
