// Crash safety: a child appending at full speed is SIGKILLed; every seq it saw acknowledged must be
// there on restart, the chain must be gap-free and verify. And two processes on one data dir never fork.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { event, keysFor, openChain, tempDir, verifyStore } from './appender.helpers.js';

const require = createRequire(import.meta.url);
const TSX = require.resolve('tsx');
const CHILD = fileURLToPath(new URL('./crash.child.ts', import.meta.url));

interface Child {
  acked: number[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
  waitForAcks(n: number): Promise<void>;
  stderr(): string;
}

function startChild(dataDir: string, count: number, tag: string): Child {
  const p = spawn(process.execPath, ['--import', TSX, CHILD, dataDir, String(count), tag], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } });
  const acked: number[] = [];
  let partial = '';
  let err = '';
  const waiters: { n: number; resolve(): void }[] = [];
  p.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l) acked.push(Number(l));
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (acked.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
    }
  });
  p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
  return {
    acked,
    exited,
    kill: () => p.kill('SIGKILL'),
    stderr: () => err,
    waitForAcks: (n) =>
      new Promise<void>((resolve, reject) => {
        if (acked.length >= n) return resolve();
        waiters.push({ n, resolve });
        void exited.then(() => reject(new Error(`child exited after ${acked.length} acks: ${err}`)));
      }),
  };
}

let tmp: ReturnType<typeof tempDir>;
let children: Child[] = [];
beforeEach(() => {
  tmp = tempDir('ainfera-crash-');
  children = [];
});
afterEach(async () => {
  for (const c of children) c.kill();
  await Promise.all(children.map((c) => c.exited));
  tmp.cleanup();
});

describe('crash safety', () => {
  it('SIGKILL mid-append loses no acknowledged entry; the chain verifies and continues', async () => {
    keysFor(tmp.dir); // create the key before the child so the parent can verify with it
    const child = startChild(tmp.dir, 0, 'crash');
    children.push(child);
    await child.waitForAcks(2000);
    child.kill();
    const { signal } = await child.exited;
    expect(signal).toBe('SIGKILL');
    const acked = child.acked;
    expect(acked.length).toBeGreaterThanOrEqual(2000);

    const c = await openChain(tmp.dir);
    try {
      const head = await c.store.chain.head();
      const max = Math.max(...acked);
      expect(head!.seq).toBeGreaterThanOrEqual(max);
      const seen = new Set(acked);
      expect(seen.size).toBe(acked.length); // never acknowledged twice
      for (const s of acked) expect(await c.store.chain.entry(s), `acked seq ${s}`).not.toBeNull();
      expect(await verifyStore(c.store, c.keys)).toMatchObject({ ok: true, entries: head!.seq + 1 });
      // And the chain goes on from where the dead process left it.
      const next = await c.appender.append(event(1));
      expect(next.seq).toBe(head!.seq + 1);
      expect(next.entry.prev).toBe(head!.hash);
      await c.appender.checkpoint();
      expect(await verifyStore(c.store, c.keys)).toMatchObject({ ok: true, entries: head!.seq + 2 });
    } finally {
      await c.close();
    }
  });

  it('two processes appending to one data dir at once never fork; every ack is unique and the chain verifies', async () => {
    keysFor(tmp.dir);
    const a = startChild(tmp.dir, 1500, 'a');
    const b = startChild(tmp.dir, 1500, 'b');
    children.push(a, b);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect(ea.code, a.stderr()).toBe(0);
    expect(eb.code, b.stderr()).toBe(0);
    const all = [...a.acked, ...b.acked].sort((x, y) => x - y);
    expect(all).toEqual([...Array(3000).keys()]);
    const c = await openChain(tmp.dir);
    try {
      expect(await verifyStore(c.store, c.keys)).toMatchObject({ ok: true, entries: 3000 });
      const agents = new Set((await c.store.chain.entries(0, 3000)).map((e) => e.agent[0]));
      expect(agents).toEqual(new Set(['a', 'b']));
    } finally {
      await c.close();
    }
  });
});
