// Ed25519 signing off the main thread, so the appender can sign batch N+1 while batch N is being made
// durable (better-sqlite3 commits synchronously on the main thread). node:crypto signs ~28k/s per core;
// the main thread meanwhile does JCS, hashing and the commit.
//
// The worker body is inline CommonJS (`eval: true`) using only node:crypto: it needs no TypeScript
// loader, so it runs the same under tsx, vitest and plain node. Ed25519 is deterministic, so a worker's
// signature is byte-identical to the in-thread signer's (checked once at start).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { ChainSigner } from './keys.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(workerData.seed)]), format: 'der', type: 'pkcs8' });
parentPort.on('message', (job) => {
  try {
    const data = Buffer.from(job.data);
    const n = job.offsets.length - 1;
    const out = new Uint8Array(n * 64);
    for (let i = 0; i < n; i++) out.set(sign(null, data.subarray(job.offsets[i], job.offsets[i + 1]), key), i * 64);
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
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { seed } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; sigs?: ArrayBuffer; error?: string }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (m.error !== undefined || !m.sigs) return job.reject(new Error(`signing worker: ${m.error ?? 'no result'}`));
      const all = new Uint8Array(m.sigs);
      const sigs: Uint8Array[] = [];
      for (let i = 0; i < job.count; i++) sigs.push(all.subarray(i * 64, i * 64 + 64));
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

  sign(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (this.dead) return Promise.reject(this.dead);
    const offsets = new Array<number>(messages.length + 1);
    let total = 0;
    offsets[0] = 0;
    messages.forEach((m, i) => {
      total += m.length;
      offsets[i + 1] = total;
    });
    const data = new Uint8Array(total);
    messages.forEach((m, i) => data.set(m, offsets[i]!));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, count: messages.length });
      this.worker.postMessage({ id, data: data.buffer, offsets }, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Signs batches of messages; falls back to the in-thread signer if a worker fails. */
export interface BatchSigner {
  readonly workers: number;
  signAll(messages: readonly Uint8Array[]): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

/**
 * Default pool size: as many workers as cores (at most 4) when there is a second core, else none. On
 * 2 cores, two workers beat one: the main thread idles while it waits for a batch's signatures, and a
 * second worker takes that core time (measured: scripts/bench/chain.ts).
 */
export function defaultSigningWorkers(): number {
  const cores = availableParallelism();
  return cores > 1 ? Math.min(4, cores) : 0;
}

/** Below this many messages a batch is signed in-thread: a round trip to a worker costs more. */
const MIN_WORKER_BATCH = 16;

export async function createBatchSigner(signer: ChainSigner, seed: Uint8Array, workers: number): Promise<BatchSigner> {
  const pool: SignWorker[] = [];
  for (let i = 0; i < workers; i++) pool.push(new SignWorker(seed));
  // Prove each worker holds the same key as the in-thread signer before trusting it.
  const probe = new TextEncoder().encode('ainfera/signer-probe');
  const expected = Buffer.from(signer.sign(probe));
  for (const w of pool) {
    const [sig] = await w.sign([probe]);
    if (!sig || !expected.equals(sig)) throw new Error('signing worker produced a different signature than the in-thread signer');
  }
  const inThread = (messages: readonly Uint8Array[]) => messages.map((m) => signer.sign(m));
  return {
    workers: pool.length,
    async signAll(messages) {
      const live = pool.filter((w) => !w.dead);
      if (live.length === 0 || messages.length < MIN_WORKER_BATCH) return inThread(messages);
      const per = Math.ceil(messages.length / live.length);
      try {
        const parts = await Promise.all(live.map((w, i) => w.sign(messages.slice(i * per, (i + 1) * per))));
        return parts.flat();
      } catch {
        return inThread(messages);
      }
    },
    async close() {
      await Promise.all(pool.map((w) => w.close()));
    },
  };
}
