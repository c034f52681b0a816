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
  readonly workers: number;
  /** Ed25519 signatures over entrySigningMessage(leaf) for each 32-byte leaf hash, in order. */
  signLeaves(leaves: readonly Uint8Array[]): Promise<Uint8Array[]>;
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

/** Below this many entries a batch is signed in-thread: a round trip to a worker costs more. */
const MIN_WORKER_BATCH = 16;

export async function createBatchSigner(signer: ChainSigner, seed: Uint8Array, workers: number): Promise<BatchSigner> {
  const pool: SignWorker[] = [];
  for (let i = 0; i < workers; i++) pool.push(new SignWorker(seed));
  const inThread = (leaves: readonly Uint8Array[]) => leaves.map((leaf) => signer.sign(entrySigningMessage(leaf)));
  // Prove each worker holds the same key and builds the same message as the in-thread signer.
  const probe = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const expected = Buffer.from(inThread([probe])[0]!);
  for (const w of pool) {
    const [sig] = await w.sign([probe], 0, 1);
    if (!sig || !expected.equals(sig)) {
      await Promise.all(pool.map((p) => p.close()));
      throw new Error('signing worker produced a different signature than the in-thread signer');
    }
  }
  return {
    workers: pool.length,
    async signLeaves(leaves) {
      const live = pool.filter((w) => !w.dead);
      if (live.length === 0 || leaves.length < MIN_WORKER_BATCH) return inThread(leaves);
      const per = Math.ceil(leaves.length / live.length);
      try {
        const parts = await Promise.all(live.map((w, i) => w.sign(leaves, Math.min(leaves.length, i * per), Math.min(leaves.length, (i + 1) * per))));
        return parts.flat();
      } catch {
        return inThread(leaves);
      }
    },
    async close() {
      await Promise.all(pool.map((w) => w.close()));
    },
  };
}
