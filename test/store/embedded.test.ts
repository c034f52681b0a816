// The embedded SQLite store: the shared contract, plus what only SQLite can show (triggers refusing
// changes to chain rows, two OS processes on one data directory).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store, StoredEntry } from '../../src/store/port.js';
import { describeStoreContract } from './contract.js';
import { assertLinked, headOf, makeEntries, sleep, until } from './helpers.js';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ainfera-store-'));
  tempDirs.push(dir);
  return dir;
}

describeStoreContract('embedded (SQLite)', async () => {
  // A subdirectory that does not exist yet: openStore creates it.
  const dataDir = path.join(tempDir(), 'data');
  return {
    open: () => openStore({ kind: 'embedded', dataDir }),
    dispose: async () => fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }),
  };
});

describe('embedded store specifics', () => {
  let dataDir: string;
  let store: Store;
  beforeEach(async () => {
    dataDir = tempDir();
    store = await openStore({ kind: 'embedded', dataDir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps one WAL-mode file in the data directory, and survives reopening', async () => {
    const batch = makeEntries(null, 3, 'a');
    await store.chain.append(null, batch);
    await store.close();
    const raw = new Database(path.join(dataDir, 'ainfera.db'), { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
    store = await openStore({ kind: 'embedded', dataDir });
    expect(await store.chain.entries(0, 10)).toEqual(batch);
  });

  it('refuses UPDATE and DELETE of chain rows and checkpoints at the database level', async () => {
    await store.chain.append(null, makeEntries(null, 2, 'a'));
    await store.chain.addCheckpoint({ size: 2, rootHash: `0x${'cd'.repeat(32)}`, time: '2026-11-24T13:00:00.000Z', note: 'n' });
    const raw = new Database(path.join(dataDir, 'ainfera.db'));
    try {
      expect(() => raw.prepare("UPDATE chain SET canonical = '{}' WHERE seq = 1").run()).toThrow(/insert-only/);
      expect(() => raw.prepare('DELETE FROM chain WHERE seq = 1').run()).toThrow(/insert-only/);
      expect(() => raw.prepare("UPDATE checkpoints SET root_hash = 'x'").run()).toThrow(/insert-only/);
      expect(() => raw.prepare('DELETE FROM checkpoints').run()).toThrow(/insert-only/);
    } finally {
      raw.close();
    }
    assertLinked(await store.chain.entries(0, 10));
  });

  it('two OS processes appending to one data directory make one gap-free, unforked chain', async () => {
    const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'append-worker.ts');
    const batches = 40;
    const seen: StoredEntry[] = [];
    // This (third) process watches the whole time: entries from the other processes arrive by polling.
    const w = store.chain.watch(0, (b) => seen.push(...b));
    const children = ['p', 'q'].map((tag) => fork(worker, [dataDir, tag, String(batches)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    try {
      const ready = children.map((c) => new Promise<void>((resolve, reject) => {
        c.once('spawn', () => resolve());
        c.once('error', reject);
      }));
      await Promise.all(ready);
      // Give both a moment to open the store, then start them together.
      await sleep(300);
      const done = children.map(
        (c) =>
          new Promise<{ written: number; refused: number }>((resolve, reject) => {
            c.once('message', (m) => resolve(m as { written: number; refused: number }));
            c.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker exited with ${code}`))));
          }),
      );
      for (const c of children) c.send('go');
      const results = await Promise.all(done);
      expect(results.map((r) => r.written)).toEqual([batches, batches]);
      const all = await store.chain.entries(0, 10_000);
      // Batches of 1, 2, 3, 4, 1, ... entries: 40 batches -> 100 entries per process.
      expect(all).toHaveLength(200);
      assertLinked(all);
      const tags = new Map<string, number>();
      for (const e of all) {
        const t = (JSON.parse(e.canonical) as { tag: string }).tag;
        tags.set(t, (tags.get(t) ?? 0) + 1);
      }
      expect(tags.size).toBe(2 * batches);
      await until(() => seen.length >= 200, 10_000, 'watch to catch up');
      await sleep(100);
      expect(seen).toEqual(all);
      expect(await store.chain.head()).toEqual(headOf(all));
    } finally {
      w.close();
      for (const c of children) if (c.exitCode === null) c.kill();
    }
  });
});

afterEach(() => {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
