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
import { writeLegacyDataDir } from './legacy.js';

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

  it('a decision patch writes only its own columns: concurrent patches of other fields from another instance survive', async () => {
    const other = await openStore({ kind: 'embedded', dataDir });
    try {
      const base = { agentId: 'a1', createdAt: '2026-11-24T13:00:00.000Z', taskType: 'chat', model: null, provider: null, outcome: 'pending' as const, holdMicros: 0, costMicros: 0, latencyMs: null, idempotencyKey: null, chainSeqs: [], detail: { big: 'x'.repeat(1000) }, feedback: null };
      await store.decisions.insert({ ...base, id: 'd1' });
      // Each instance read the record before the other wrote: a whole-row rewrite from either would lose the other's field.
      const [seenHere] = await store.decisions.byIds(['d1']);
      const [seenThere] = await other.decisions.byIds(['d1']);
      expect(seenHere?.outcome).toBe('pending');
      expect(seenThere?.outcome).toBe('pending');
      expect(await other.decisions.updateIfPending('d1', { holdMicros: 70 })).toMatchObject({ holdMicros: 70, outcome: 'pending', detail: base.detail });
      const up = await store.decisions.update('d1', { chainSeqs: [4, 5], latencyMs: 3 });
      expect(up).toEqual({ ...base, id: 'd1', holdMicros: 70, chainSeqs: [4, 5], latencyMs: 3 });
      expect((await other.decisions.byIds(['d1']))[0]).toEqual(up);
      // A returned record is the caller's own copy, as before.
      (up!.detail as { big: string }).big = 'changed';
      expect((await store.decisions.byIds(['d1']))[0]?.detail).toEqual(base.detail);
      // A patch that writes the detail returns it (from the text it bound, not read back) as stored.
      const detail = { big: 'y'.repeat(2000), n: [1, 2] };
      const written = await store.decisions.update('d1', { detail, latencyMs: 4 });
      expect(written).toEqual({ ...base, id: 'd1', holdMicros: 70, chainSeqs: [4, 5], latencyMs: 4, detail });
      (written!.detail as { big: string }).big = 'changed';
      expect((await other.decisions.byIds(['d1']))[0]).toEqual({ ...written, detail });
    } finally {
      await other.close();
    }
  });

  it('keeps only the decision indexes the listings and the recovery sweep walk, also on a data directory created by the first schema', async () => {
    const indexes = (db: Database.Database) =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decisions' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    const file = path.join(dataDir, 'ainfera.db');
    let db = new Database(file, { readonly: true });
    expect(indexes(db)).toEqual(['decisions_by_agent', 'decisions_by_time', 'decisions_pending']);
    db.close();
    // A v1 data directory: the four extra indexes exist; opening it drops them and keeps the data.
    await store.decisions.insert({ id: 'old', agentId: 'a1', createdAt: '2026-11-24T13:00:00.000Z', taskType: 'chat', model: 'm1', provider: 'p1', outcome: 'completed', holdMicros: 5, costMicros: 1, latencyMs: 2, idempotencyKey: null, chainSeqs: [1], detail: null, feedback: null });
    await store.close();
    db = new Database(file);
    for (const col of ['model', 'provider', 'task_type', 'outcome']) db.exec(`CREATE INDEX decisions_by_${col === 'task_type' ? 'task' : col} ON decisions (${col}, created_at, id)`);
    db.pragma('user_version = 1');
    db.close();
    store = await openStore({ kind: 'embedded', dataDir });
    db = new Database(file, { readonly: true });
    expect(indexes(db)).toEqual(['decisions_by_agent', 'decisions_by_time', 'decisions_pending']);
    db.close();
    expect((await store.decisions.list({ model: 'm1', outcome: 'completed' }, 5)).items.map((d) => d.id)).toEqual(['old']);
  });

  it('upgrading a data directory of the release before the ledger puts its pending holds in the ledger, and only those', async () => {
    await store.close();
    const old = path.join(dataDir, 'v2');
    const at = '2026-11-24T12:00:00.000Z';
    writeLegacyDataDir(
      old,
      [
        { id: 'a1', handle: 'h1', balance: 700 }, // 1000 credited, 300 held by d_pending
        { id: 'a2', handle: 'h2', balance: 5 },
      ],
      [
        { id: 'd_pending', agentId: 'a1', createdAt: at, outcome: 'pending', holdMicros: 300 },
        { id: 'd_pending_nohold', agentId: 'a1', createdAt: at, outcome: 'pending', holdMicros: 0 },
        { id: 'd_done', agentId: 'a1', createdAt: at, outcome: 'completed', holdMicros: 50, costMicros: 20 },
        { id: 'd_failed', agentId: 'a2', createdAt: at, outcome: 'failed', holdMicros: 9 },
      ],
    );
    // Two processes may open it at once: the migration runs once (same transaction as the version bump).
    const [s1, s2] = await Promise.all([openStore({ kind: 'embedded', dataDir: old }), openStore({ kind: 'embedded', dataDir: old })]);
    store = s1;
    try {
      const raw = new Database(path.join(old, 'ainfera.db'), { readonly: true });
      expect(raw.pragma('user_version', { simple: true })).toBe(3);
      raw.close();
      const open = [{ agentId: 'a1', decisionId: 'd_pending', micros: 300, createdAt: at, migrated: true }];
      expect(await s1.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).toEqual(open);
      expect(await s2.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).toEqual(open);
      // Nothing else changed: balances, decisions.
      expect((await s1.accounts.agentsByIds(['a1', 'a2'])).map((a) => a?.balanceMicros)).toEqual([700, 5]);
      expect((await s1.decisions.byIds(['d_pending', 'd_done'])).map((d) => [d?.outcome, d?.holdMicros])).toEqual([['pending', 300], ['completed', 50]]);
      // The migrated hold is a real hold: it settles once, and its money counts towards the credit limit.
      await expect(s1.accounts.credit('a1', Number.MAX_SAFE_INTEGER - 1000 + 1)).rejects.toMatchObject({ field: 'micros' });
      expect(await s2.accounts.settleHold('a1', 'd_pending', 0)).toEqual({ settled: true, refundMicros: 300, balanceMicros: 1000 });
      expect(await s1.accounts.settleHold('a1', 'd_pending', 0)).toMatchObject({ settled: false });
      // Reopening does not migrate again.
      await s2.close();
      const s3 = await openStore({ kind: 'embedded', dataDir: old });
      expect(await s3.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).toEqual([]);
      await s3.close();
    } finally {
      await s2.close();
    }
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

  it('two OS processes settling the same holds give each back exactly once', async () => {
    const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'settle-worker.ts');
    const n = 1000;
    await store.accounts.createAgent({ id: 'a1', handle: 'h1', keyHash: 'kh1', balanceMicros: n * 100, policy: null, createdAt: '2026-11-24T13:00:00.000Z' });
    for (let i = 0; i < n; i++) expect((await store.accounts.hold('a1', `r${i}`, 100)).ok).toBe(true);
    // Opposite orders: while both run, they meet and race for the same holds.
    const children = ['up', 'down'].map((direction) => fork(worker, [dataDir, 'a1', String(n), direction], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    try {
      // Both have opened the store: start them together.
      await Promise.all(children.map((c) => new Promise<void>((resolve, reject) => (c.once('message', () => resolve()), c.once('error', reject), c.once('exit', reject)))));
      const done = children.map(
        (c) =>
          new Promise<{ settled: number; refunded: number }>((resolve, reject) => {
            c.once('message', (m) => resolve(m as { settled: number; refunded: number }));
            c.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker exited with ${code}`))));
          }),
      );
      for (const c of children) c.send('go');
      const results = await Promise.all(done);
      expect(results[0]!.settled + results[1]!.settled).toBe(n);
      expect(results[0]!.refunded + results[1]!.refunded).toBe(n * 70);
      expect((await store.accounts.agentsByIds(['a1']))[0]?.balanceMicros).toBe(n * 70);
      expect(await store.accounts.openHolds('2999-01-01T00:00:00.000Z', 10)).toEqual([]);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill();
    }
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
