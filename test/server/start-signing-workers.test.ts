// The chain's signing workers (src/chain/appender-signers.ts) as a started server uses them: no worker
// threads at start or under light traffic (each is a V8 isolate, ~7 MiB resident), workers once batches
// are worth a round trip, stopped again when idle; every signature byte-identical to the in-thread signer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBatchSigner, type BatchSigner } from '../../src/chain/appender-signers.js';
import { entrySigningMessage } from '../../src/chain/entry.js';
import { loadSigningKeys } from '../../src/chain/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'ainfera-signers-'));
const keys = loadSigningKeys({ dataDir: dir, create: true, env: {} });
const signers: BatchSigner[] = [];
afterAll(async () => {
  await Promise.all(signers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function signer(workers: number, idleMs?: number): Promise<BatchSigner> {
  const s = await createBatchSigner(keys.signer, keys.seed(), workers, idleMs === undefined ? {} : { idleMs });
  signers.push(s);
  return s;
}

let counter = 0;
/** `n` distinct 32-byte leaf hashes. */
function leaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => {
    const leaf = new Uint8Array(32);
    new DataView(leaf.buffer).setUint32(0, ++counter);
    return leaf;
  });
}

const inThread = (ls: Uint8Array[]) => ls.map((l) => Buffer.from(keys.signer.sign(entrySigningMessage(l))).toString('hex'));
const hex = (sigs: Uint8Array[]) => sigs.map((s) => Buffer.from(s).toString('hex'));
/** Lets worker messages arrive (a real appender does I/O between batches). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Signs large batches until the workers have signed one (they start, prove themselves, then take batches). */
async function signUntilWorkersSign(s: BatchSigner): Promise<void> {
  for (let i = 0; i < 2000 && s.signedInWorkers === 0; i++) {
    const ls = leaves(64);
    expect(hex(await s.signLeaves(ls))).toEqual(inThread(ls));
    await turn();
  }
  expect(s.signedInWorkers).toBeGreaterThan(0);
}

describe('chain signing workers start on demand', () => {
  it('runs no worker until a batch is worth one, then signs in workers byte-identically', async () => {
    const s = await signer(2);
    expect(s.workers).toBe(2);
    expect(s.running).toBe(0);
    // Light traffic: small batches are signed in-thread and start nothing.
    for (let i = 0; i < 20; i++) {
      const ls = leaves(3);
      expect(hex(await s.signLeaves(ls))).toEqual(inThread(ls));
    }
    expect(s.running).toBe(0);
    expect(s.signedInWorkers).toBe(0);
    await signUntilWorkersSign(s);
    expect(s.running).toBe(2);
    const ls = leaves(500);
    expect(hex(await s.signLeaves(ls))).toEqual(inThread(ls));
  }, 20_000);

  it('a large first batch waits for the workers starting rather than blocking the event loop signing in-thread', async () => {
    const s = await signer(2);
    const ls = leaves(400);
    expect(hex(await s.signLeaves(ls))).toEqual(inThread(ls));
    expect(s.signedInWorkers).toBe(400);
    expect(s.running).toBe(2);
  }, 20_000);

  it('stops idle workers and starts them again when batches come back', async () => {
    const s = await signer(1, 50);
    await signUntilWorkersSign(s);
    expect(s.running).toBe(1);
    for (let i = 0; i < 500 && s.running > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(s.running).toBe(0);
    const before = s.signedInWorkers;
    for (let i = 0; i < 2000 && s.signedInWorkers === before; i++) {
      const ls = leaves(64);
      expect(hex(await s.signLeaves(ls))).toEqual(inThread(ls));
      await turn();
    }
    expect(s.signedInWorkers).toBeGreaterThan(before);
  }, 20_000);

  it('with no workers, and after close, signs in-thread', async () => {
    const none = await signer(0);
    const ls = leaves(100);
    expect(hex(await none.signLeaves(ls))).toEqual(inThread(ls));
    expect(none.running).toBe(0);
    const s = await signer(1);
    await signUntilWorkersSign(s);
    await s.close();
    expect(s.running).toBe(0);
    const after = s.signedInWorkers;
    const more = leaves(100);
    expect(hex(await s.signLeaves(more))).toEqual(inThread(more));
    expect(s.signedInWorkers).toBe(after);
  }, 20_000);

  it('refuses a pool size that is not a non-negative integer', async () => {
    await expect(createBatchSigner(keys.signer, keys.seed(), -1)).rejects.toThrow(RangeError);
    await expect(createBatchSigner(keys.signer, keys.seed(), 1.5)).rejects.toThrow(/non-negative integer/);
  });
});
