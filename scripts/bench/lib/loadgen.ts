// HTTP load generation on undici for the benchmarks: an open-loop generator at a fixed rate and a
// closed-loop one with N concurrent connections.
//
// Open loop: request i is due at start + i / rate by the wall clock, whether or not earlier requests have
// answered, and its latency is measured from that intended time, not from when it actually left. A
// server (or load generator) stall therefore shows up in the percentiles instead of silently delaying
// the next requests (coordinated omission). How late requests actually left is reported as sendLag.
//
// Requests go through Pool.dispatch with a raw handler (no stream objects per request) so the load
// generator's own cost stays small next to what it measures.
import { Pool } from 'undici';
import { summarize, type Summary } from './stats.js';

export interface Target {
  /** A label for reports. */
  name: string;
  /** http://host:port */
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** SSE response: record time to the first content delta. */
  stream: boolean;
  /** A substring every good response body contains (checks the answer really came back). */
  expect: string;
}

export interface Sample {
  /** From the intended (open loop) or actual (closed loop) send time to the end of the response, ms. */
  totalMs: number;
  /** To the first response body byte, ms. */
  firstByteMs: number;
  /** To the first byte of the first non-empty content delta (streams), ms; NaN otherwise. */
  firstContentMs: number;
}

export interface RunResult {
  target: string;
  mode: 'open' | 'closed';
  /** Requests sent and answered well. */
  ok: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  /** Good answers per second over the run. */
  throughput: number;
  total: Summary;
  firstByte: Summary;
  firstContent: Summary | null;
  /** Open loop only: how late requests left relative to their schedule, ms. */
  sendLag: Summary | null;
  /** Raw samples (ms), for pooling across repetitions. */
  samples: { total: number[]; firstByte: number[]; firstContent: number[] };
}

const CONTENT_DELTA = /"content":"[^"]/;

/** A pooled keep-alive client per target origin; reuse it across runs so connections stay warm. */
export class LoadClient {
  readonly pool: Pool;
  constructor(
    readonly target: Target,
    connections: number,
  ) {
    this.pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
  }

  /** One request; resolves (never rejects) with its timings relative to `t0` (a performance.now() value). */
  send(t0: number): Promise<{ sample: Sample; error: string | null }> {
    const t = this.target;
    return new Promise((resolve) => {
      let status = 0;
      let firstByte = Number.NaN;
      let firstContent = Number.NaN;
      let text = '';
      this.pool.dispatch(
        { path: t.path, method: 'POST', headers: t.headers, body: t.body },
        {
          onRequestStart() {},
          onResponseStart(_c, statusCode) {
            status = statusCode;
          },
          onResponseData(_c, chunk: Buffer) {
            const now = performance.now();
            if (Number.isNaN(firstByte)) firstByte = now - t0;
            text += chunk.toString('latin1');
            if (t.stream && Number.isNaN(firstContent) && CONTENT_DELTA.test(text)) firstContent = now - t0;
          },
          onResponseEnd() {
            const totalMs = performance.now() - t0;
            const sample = { totalMs, firstByteMs: firstByte, firstContentMs: firstContent };
            let error: string | null = null;
            if (status !== 200) error = `HTTP ${status}: ${text.slice(0, 300)}`;
            else if (!text.includes(t.expect)) error = `unexpected body: ${text.slice(0, 300)}`;
            resolve({ sample, error });
          },
          onResponseError(_c, err: Error) {
            resolve({ sample: { totalMs: performance.now() - t0, firstByteMs: firstByte, firstContentMs: firstContent }, error: err.message });
          },
        },
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

class Collector {
  total: number[] = [];
  firstByte: number[] = [];
  firstContent: number[] = [];
  lag: number[] = [];
  ok = 0;
  errors = 0;
  firstError: string | null = null;

  add(r: { sample: Sample; error: string | null }): void {
    if (r.error !== null) {
      this.errors++;
      this.firstError ??= r.error;
      return;
    }
    this.ok++;
    this.total.push(r.sample.totalMs);
    this.firstByte.push(r.sample.firstByteMs);
    if (!Number.isNaN(r.sample.firstContentMs)) this.firstContent.push(r.sample.firstContentMs);
  }

  result(target: Target, mode: 'open' | 'closed', elapsedMs: number): RunResult {
    return {
      target: target.name,
      mode,
      ok: this.ok,
      errors: this.errors,
      firstError: this.firstError,
      elapsedMs: Math.round(elapsedMs),
      throughput: Math.round((this.ok * 1000) / elapsedMs),
      total: summarize(this.total),
      firstByte: summarize(this.firstByte),
      firstContent: target.stream ? summarize(this.firstContent) : null,
      sendLag: mode === 'open' ? summarize(this.lag) : null,
      samples: { total: this.total, firstByte: this.firstByte, firstContent: this.firstContent },
    };
  }
}

/**
 * Open loop: `rate` requests per second for `durationMs`, each timed from its intended send time. Waits
 * for the answers of the last requests (at most `drainMs`; later ones count as errors).
 */
export async function openLoop(client: LoadClient, rate: number, durationMs: number, drainMs = 10_000): Promise<RunResult> {
  const n = Math.max(1, Math.floor((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const c = new Collector();
  const pending = new Set<Promise<void>>();
  const start = performance.now() + 2;
  let i = 0;
  await new Promise<void>((allSent) => {
    const tick = (): void => {
      const now = performance.now();
      while (i < n && start + i * interval <= now) {
        const due = start + i * interval;
        c.lag.push(performance.now() - due);
        const p = client.send(due).then((r) => c.add(r));
        pending.add(p);
        void p.finally(() => pending.delete(p));
        i++;
      }
      if (i < n) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
      else allSent();
    };
    setTimeout(tick, 2);
  });
  const lastDue = start + (n - 1) * interval;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all(pending).then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), drainMs))),
  ]);
  clearTimeout(timer);
  if (!drained) {
    c.errors += pending.size;
    c.firstError ??= `${pending.size} requests unanswered ${drainMs} ms after the last was due`;
  }
  return c.result(client.target, 'open', lastDue + interval - start);
}

/** Closed loop: `concurrency` workers, each sending its next request when the previous one answered. */
export async function closedLoop(client: LoadClient, concurrency: number, durationMs: number): Promise<RunResult> {
  const c = new Collector();
  const start = performance.now();
  const end = start + durationMs;
  let last = start;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const r = await client.send(performance.now());
      c.add(r);
      last = performance.now();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return c.result(client.target, 'closed', last - start);
}
