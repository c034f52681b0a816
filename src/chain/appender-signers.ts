// Entry signing off the main thread, so the appender can sign batch N+1 while batch N is being made
// durable (better-sqlite3 commits synchronously on the main thread). node:crypto signs ~28k/s per core;
// the main thread meanwhile does JCS, hashing and the commit.
//
// A batch travels as ONE transferred buffer of 32-byte leaf hashes and comes back as one buffer of
// 64-byte signatures: no per-entry objects or copies cross the thread boundary. The worker builds each
// message as ENTRY_SIG_DOMAIN ‖ hash (the domain string comes from entry.ts, the format's authority).
// The worker body is inline CommonJS (`eval: true`) using only node:crypto: it needs no TypeScript
// loader, so it runs the same under tsx, vitest and plain node. Ed25519 is deterministic, so a worker's
// signature is byte-identical to the in-thread signer's over entrySigningMessage (checked at start).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { logger } from '../log.js';
import type { ChainSigner } from './keys.js';
import { ENTRY_SIG_DOMAIN, entrySigningMessage } from './entry.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(workerData.seed)]), format: 'der', type: 'pkcs8' });
const domain = Buffer.from(workerData.domain, 'utf8');
const msg = Buffer.alloc(domain.length + 32);
domain.copy(msg, 0);
parentPort.on('message', (job) => {
  try {
    const hashes = Buffer.from(job.hashes);
    const n = hashes.length / 32;
    const out = new Uint8Array(n * 64);
    for (let i = 0; i < n; i++) {
      hashes.copy(msg, domain.length, i * 32, i * 32 + 32);
      out.set(sign(null, msg, key), i * 64);
    }
    parentPort.postMessage({ id: job.id, sigs: out.buffer }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: String(err && err.message || err) });
  }
});
`;

interface Job {
  resolve(sigs: Uint8Array[]): void;
  reject(err: Error): void;
  count: number;
}

class SignWorker {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  dead: Error | null = null;

  constructor(seed: Uint8Array) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { seed, domain: ENTRY_SIG_DOMAIN } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; sigs?: ArrayBuffer; error?: string }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (m.error !== undefined || !m.sigs) return job.reject(new Error(`signing worker: ${m.error ?? 'no result'}`));
      const all = new Uint8Array(m.sigs);
      const sigs: Uint8Array[] = new Array<Uint8Array>(job.count);
      for (let i = 0; i < job.count; i++) sigs[i] = all.subarray(i * 64, i * 64 + 64);
      job.resolve(sigs);
    });
    const fail = (err: Error) => {
      this.dead = err;
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`signing worker exited (${code})`)));
  }

  /** Sign leaves[from, to). */
  sign(leaves: readonly Uint8Array[], from: number, to: number): Promise<Uint8Array[]> {
    if (this.dead) return Promise.reject(this.dead);
    const hashes = new Uint8Array((to - from) * 32);
    for (let i = from; i < to; i++) hashes.set(leaves[i]!, (i - from) * 32);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, count: to - from });
      this.worker.postMessage({ id, hashes: hashes.buffer }, [hashes.buffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Signs batches of entry leaf hashes; falls back to the in-thread signer if a worker fails. */
export interface BatchSigner {
  /** Most worker threads this signer runs (they start on demand; see createBatchSigner). */
  readonly workers: number;
  /** Worker threads running now (verified or being verified). */
  readonly running: number;
  /** Entries signed in worker threads so far (the rest were signed in-thread). */
  readonly signedInWorkers: number;
  /** Ed25519 signatures over entrySigningMessage(leaf) for each 32-byte leaf hash, in order. */
  signLeaves(leaves: readonly Uint8Array[]): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

/**
 * Default pool size: as many workers as cores (at most 4) when there is a second core, else none. On
 * 2 cores, two workers beat one: the main thread idles while it waits for a batch's signatures, and a
 * second worker takes that core time (measured: scripts/bench/chain.ts). Each worker is a V8 isolate
 * (~7 MiB resident), paid only under load: workers start with the first batch worth a round trip and
 * stop when idle (createBatchSigner). Measured on 2 shared cores at saturation (64 connections): the
 * main thread spends ~1.6 ms per routed call with no workers, ~1.3 ms with one or two, and two gave the
 * most calls/s in 5 of 6 paired runs against one.
 */
export function defaultSigningWorkers(): number {
  const cores = availableParallelism();
  return cores > 1 ? Math.min(4, cores) : 0;
}

/** Longest a batch waits for workers that are starting before it is signed in-thread anyway. */
const WORKER_START_WAIT_MS = 2_000;
/** Below this many entries a batch is signed in-thread: a round trip to a worker costs more. */
const MIN_WORKER_BATCH = 16;
/** Workers that signed nothing for this long are stopped (their isolates' memory goes back to the OS). */
export const SIGNING_WORKERS_IDLE_MS = 30_000;

export interface BatchSignerOptions {
  /** Stop idle workers after this many ms (default SIGNING_WORKERS_IDLE_MS; 0 = keep them). */
  idleMs?: number;
}

/**
 * A batch signer with up to `workers` worker threads. The workers start on demand, with the first batch
 * large enough to be worth a round trip (a server with little traffic signs its few entries in-thread and
 * never pays for the isolates), and stop again after `idleMs` without such a batch. Until freshly started
 * workers have proven they sign the same bytes as the in-thread signer, batches are signed in-thread. If
 * a worker fails its proof, workers are never used again; if workers die (or cannot start), batches are
 * signed in-thread and workers are tried again after a pause.
 */
export async function createBatchSigner(signer: ChainSigner, seed: Uint8Array, workers: number, opts: BatchSignerOptions = {}): Promise<BatchSigner> {
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`signing workers must be a non-negative integer, got ${String(workers)}`);
  const idleMs = opts.idleMs ?? SIGNING_WORKERS_IDLE_MS;
  /** After workers died or could not start: no new ones before this long (no spawn storm per batch). */
  const retryMs = idleMs > 0 ? idleMs : SIGNING_WORKERS_IDLE_MS;
  const inThread = (leaves: readonly Uint8Array[]) => leaves.map((leaf) => signer.sign(entrySigningMessage(leaf)));
  // The proof each started worker must pass: the same signature as the in-thread signer over one message.
  const probe = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const expected = Buffer.from(inThread([probe])[0]!);

  /** Started workers, until stopped (verified or not). */
  let started: SignWorker[] = [];
  /** The started workers once all passed their proof. */
  let ready: SignWorker[] = [];
  /** A worker signed differently from the in-thread signer: never use workers again. */
  let broken = false;
  let closed = false;
  let lastUse = 0;
  let retryAt = 0;
  let signedInWorkers = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  /** Settles when the workers being started have passed (true) or failed (false) their proof. */
  let starting: Promise<boolean> | null = null;

  const stopAll = async (): Promise<void> => {
    const pool = started;
    started = [];
    ready = [];
    if (idleTimer) clearInterval(idleTimer);
    idleTimer = null;
    await Promise.all(pool.map((w) => w.close()));
  };
  const stopAndPause = (): void => {
    retryAt = Date.now() + retryMs;
    void stopAll();
  };

  const start = (): void => {
    const pool: SignWorker[] = [];
    started = pool;
    try {
      for (let i = 0; i < workers; i++) pool.push(new SignWorker(seed));
    } catch (err) {
      logger.warn({ err }, 'chain signing workers could not start: signing in-thread for now');
      stopAndPause();
      return;
    }
    starting = Promise.all(
      pool.map(async (w) => {
        const [sig] = await w.sign([probe], 0, 1);
        return sig !== undefined && expected.equals(sig);
      }),
    ).then(
      (proofs) => {
        starting = null;
        if (started !== pool) return false; // stopped meanwhile
        if (!proofs.every(Boolean)) {
          broken = true;
          logger.error('a chain signing worker produced a different signature than the in-thread signer: signing in-thread from now on');
          void stopAll();
          return false;
        }
        ready = pool;
        if (idleMs > 0) {
          idleTimer = setInterval(() => {
            if (Date.now() - lastUse >= idleMs) void stopAll();
          }, idleMs);
          idleTimer.unref();
        }
        return true;
      },
      () => {
        // A worker died before its proof.
        starting = null;
        if (started === pool) stopAndPause();
        return false;
      },
    );
  };

  /**
   * Waits (at most WORKER_START_WAIT_MS) for workers being started. Their start costs tens of ms once;
   * signing a large batch in-thread meanwhile blocks the event loop for longer (4,000 entries: ~160 ms)
   * and, under a burst, every batch until they are up (measured: bench:chain 22k -> 15k entries/s when
   * batches went in-thread while workers started).
   */
  const workersStarted = async (): Promise<boolean> => {
    const pending = starting;
    if (!pending) return ready.length > 0;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), WORKER_START_WAIT_MS);
    });
    try {
      return await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    workers,
    get running() {
      return started.length;
    },
    get signedInWorkers() {
      return signedInWorkers;
    },
    async signLeaves(leaves) {
      if (leaves.length < MIN_WORKER_BATCH || workers === 0 || broken || closed) return inThread(leaves);
      lastUse = Date.now();
      if (started.length === 0) {
        if (lastUse < retryAt) return inThread(leaves);
        start();
      }
      if (ready.length === 0 && !(await workersStarted())) return inThread(leaves);
      const live = ready.filter((w) => !w.dead);
      if (live.length === 0) {
        if (ready.length > 0) stopAndPause(); // every verified worker died
        return inThread(leaves);
      }
      const per = Math.ceil(leaves.length / live.length);
      try {
        const parts = await Promise.all(live.map((w, i) => w.sign(leaves, Math.min(leaves.length, i * per), Math.min(leaves.length, (i + 1) * per))));
        signedInWorkers += leaves.length;
        return parts.flat();
      } catch {
        return inThread(leaves);
      }
    },
    async close() {
      closed = true;
      await stopAll();
    },
  };
}
