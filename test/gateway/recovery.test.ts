// Crash recovery over real SQLite data directories: what a process that died mid-call leaves (a pending
// decision with an open ledger hold, or a settled decision whose hold was never given back), a real child
// process SIGKILLed between its hold and its next write, sweeps racing in several store instances and
// apps, and a data directory of the release before the holds ledger.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ChainAppender } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import { RECOVERED_REASON, sweepAbandoned, type SweepResult } from '../../src/gateway/recovery.js';
import { createApp, type App } from '../../src/server/app.js';
import { openStore } from '../../src/store/index.js';
import type { DecisionRecord, Store } from '../../src/store/port.js';
import { testConfig } from '../helpers/server.js';
import { pendingDecision } from './harness.js';
import { writeLegacyDataDir } from '../store/legacy.js';

const require = createRequire(import.meta.url);
const TSX = require.resolve('tsx');
const CHILD = fileURLToPath(new URL('./fixtures/crash-call.child.ts', import.meta.url));

const dirs: string[] = [];
const apps: App[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ainfera-recover-'));
  dirs.push(dir);
  return dir;
}

function start(dataDir: string): Promise<App> {
  return createApp(testConfig(dataDir, { demo: { enabled: false } }), { env: {}, fleet: { chaos: false, timeScale: 50 }, signingWorkers: 0 }).then((a) => {
    apps.push(a);
    return a;
  });
}

/** A store and a chain appender on `dataDir`, as one more process would have (closed after the test). */
async function instance(dataDir: string): Promise<{ store: Store; appender: ChainAppender }> {
  const store = await openStore({ kind: 'embedded', dataDir });
  const keys = loadSigningKeys({ dataDir, create: true, env: {}, origin: 'test.ainfera/chain' });
  const appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 0, signingWorkers: 0 });
  cleanups.push(async () => {
    await appender.close();
    await store.close();
  });
  return { store, appender };
}

function decision(id: string, agentId: string, createdAt: Date, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return pendingDecision(id, agentId, { createdAt: createdAt.toISOString(), ...over });
}

/**
 * Runs the crash child (fixtures/crash-call.child.ts) on `dir` in `mode`, waits until its output matches
 * `until`, SIGKILLs it there, and returns the match.
 */
async function killChildAt(dir: string, agentId: string, mode: 'hold' | 'after-chain', until: RegExp): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, ['--import', TSX, CHILD, dir, agentId, mode], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const matched = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = until.exec(out);
      if (m) resolve(m);
    });
    void exited.then(() => reject(new Error(`child exited before ${until}: ${out} ${err}`)));
  });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return matched;
}

const agentRecord = (id: string, handle: string, balanceMicros: number) => ({ id, handle, keyHash: `kh-${id}`, balanceMicros, policy: null, createdAt: new Date().toISOString() });
const balanceOf = async (store: Store, id: string) => (await store.accounts.agentsByIds([id]))[0]!.balanceMicros;
const parsed = async (store: Store, decisionId: string) => (await store.chain.entriesOfDecision(decisionId)).map((e) => JSON.parse(e.canonical) as Record<string, unknown>);
const HALF_HOUR_AGO = () => new Date(Date.now() - 30 * 60_000);
const FAR_FUTURE = '2999-01-01T00:00:00.000Z';

describe('crash recovery', () => {
  it('gives back the hold of a decision a crashed process left pending, once, across two apps', async () => {
    const dir = tempDir();
    // What a crashed process leaves: money held in the ledger, decisions pending. One abandoned long ago,
    // one that a live process in another instance may still be running (recent): that one is not touched.
    const crashed = await openStore({ kind: 'embedded', dataDir: dir });
    await crashed.accounts.createAgent(agentRecord('ag_crash', 'crash-victim', 1_000_000));
    const longAgo = HALF_HOUR_AGO();
    await crashed.decisions.insert(decision('d_abandoned', 'ag_crash', longAgo));
    expect(await crashed.accounts.hold('ag_crash', 'd_abandoned', 300_000, longAgo.toISOString())).toEqual({ ok: true, balanceMicros: 700_000 });
    const now = new Date();
    await crashed.decisions.insert(decision('d_live', 'ag_crash', now));
    expect(await crashed.accounts.hold('ag_crash', 'd_live', 50_000, now.toISOString())).toEqual({ ok: true, balanceMicros: 650_000 });
    await crashed.close();

    // Two processes start on the data directory at the same time: both sweep at start.
    const [a, b] = await Promise.all([start(dir), start(dir)]);
    expect(await balanceOf(a.store, 'ag_crash')).toBe(950_000);

    const [abandoned, live] = await a.store.decisions.byIds(['d_abandoned', 'd_live']);
    expect(abandoned).toMatchObject({ outcome: 'failed', holdMicros: 300_000, costMicros: 0 });
    expect((abandoned!.detail as { recovered?: { reason: string } }).recovered?.reason).toBe(RECOVERED_REASON);
    expect(live).toMatchObject({ outcome: 'pending' });
    expect((await a.store.accounts.openHolds(FAR_FUTURE, 10)).map((h) => h.decisionId)).toEqual(['d_live']);

    await a.appender.flush();
    await b.appender.flush();
    const entries = await parsed(a.store, 'd_abandoned');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ kind: 'refunded', agent: 'crash-victim', decision: 'd_abandoned', holdMicros: 300_000, costMicros: 0, refundMicros: 300_000, reason: RECOVERED_REASON });
    expect(entries[0]).not.toHaveProperty('balanceMicros');
    expect(abandoned!.chainSeqs).toEqual([entries[0]!.seq]);

    // Later sweeps, in either process, find nothing more to give back.
    expect(await a.recovery.sweep()).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await b.recovery.sweep()).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await balanceOf(a.store, 'ag_crash')).toBe(950_000);
    expect(await a.store.chain.entriesOfDecision('d_abandoned')).toHaveLength(1);
  });

  it('gives back the hold of a call whose process was SIGKILLed between the hold and its next write', async () => {
    const dir = tempDir();
    const setup = await openStore({ kind: 'embedded', dataDir: dir });
    await setup.accounts.createAgent(agentRecord('ag_kill', 'killed-mid-call', 5_000_000));
    await setup.close();

    const m = await killChildAt(dir, 'ag_kill', 'hold', /decision (\S+)\n[^]*executing (\d+)\n/);
    const executing = { decisionId: m[1]!, hold: Number(m[2]) };
    const { decisionId, hold } = executing;
    expect(hold).toBeGreaterThan(0);

    const { store, appender } = await instance(dir);
    // What it left: the money is gone from the balance, the decision says nothing of it (no write
    // recorded the hold there - before the ledger this hold was lost), the ledger has it.
    expect(await balanceOf(store, 'ag_kill')).toBe(5_000_000 - hold);
    expect((await store.decisions.byIds([decisionId]))[0]).toMatchObject({ outcome: 'pending', holdMicros: 0 });
    expect(await store.accounts.openHolds(FAR_FUTURE, 10)).toEqual([expect.objectContaining({ agentId: 'ag_kill', decisionId, micros: hold, migrated: false })]);

    // Not before its deadline: a live call in another process is never touched.
    expect(await sweepAbandoned({ store, appender, olderThanMs: 60_000 })).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await balanceOf(store, 'ag_kill')).toBe(5_000_000 - hold);

    const later = () => Date.now() + 10 * 60_000;
    expect(await sweepAbandoned({ store, appender, olderThanMs: 60_000, now: later })).toEqual({ recovered: 1, releasedMicros: hold });
    expect(await balanceOf(store, 'ag_kill')).toBe(5_000_000);
    const [d] = await store.decisions.byIds([decisionId]);
    expect(d).toMatchObject({ outcome: 'failed', costMicros: 0, holdMicros: hold });
    const refunded = (await parsed(store, decisionId)).filter((e) => e.kind === 'refunded');
    expect(refunded).toEqual([expect.objectContaining({ holdMicros: hold, costMicros: 0, refundMicros: hold, reason: RECOVERED_REASON })]);
    expect(await sweepAbandoned({ store, appender, olderThanMs: 60_000, now: later })).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await balanceOf(store, 'ag_kill')).toBe(5_000_000);
  });

  it('settles a call killed after its settlement reached the chain with the charge the chain states, adding no entry', async () => {
    const dir = tempDir();
    const setup = await openStore({ kind: 'embedded', dataDir: dir });
    await setup.accounts.createAgent(agentRecord('ag_chain', 'killed-after-chain', 5_000_000));
    await setup.close();

    const decisionId = (await killChildAt(dir, 'ag_chain', 'after-chain', /settling (\S+)\n/))[1]!;

    const { store, appender } = await instance(dir);
    // Died between the chain and the money: the chain says what the call charged; nothing has moved yet.
    const said = await parsed(store, decisionId);
    expect(said.map((e) => e.kind)).toEqual(['request', 'debited', 'completed', 'refunded']);
    const refunded = said.at(-1)!;
    expect(refunded).toMatchObject({ costMicros: 7 });
    expect(refunded).not.toHaveProperty('reason');
    const hold = refunded.holdMicros as number;
    expect((await store.decisions.byIds([decisionId]))[0]).toMatchObject({ outcome: 'pending' });
    expect(await balanceOf(store, 'ag_chain')).toBe(5_000_000 - hold);

    const later = () => Date.now() + 10 * 60_000;
    expect(await sweepAbandoned({ store, appender, olderThanMs: 60_000, now: later })).toEqual({ recovered: 1, releasedMicros: hold - 7 });
    // Settled as the chain says: charged 7, completed by the model the chain names, and no second entry.
    expect(await balanceOf(store, 'ag_chain')).toBe(5_000_000 - 7);
    const [d] = await store.decisions.byIds([decisionId]);
    expect(d).toMatchObject({ outcome: 'completed', costMicros: 7, holdMicros: hold, model: said[2]!.model, provider: said[2]!.provider });
    expect(d!.chainSeqs).toEqual(said.map((e) => e.seq));
    await appender.flush();
    expect((await parsed(store, decisionId)).filter((e) => e.kind === 'refunded')).toHaveLength(1);
    expect(await sweepAbandoned({ store, appender, olderThanMs: 60_000, now: later })).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await balanceOf(store, 'ag_chain')).toBe(5_000_000 - 7);
  });

  it('gives back a settled decision\'s unreleased hold minus its cost exactly once, with two sweeps racing', async () => {
    const dir = tempDir();
    const p1 = await instance(dir);
    const p2 = await instance(dir);
    const longAgo = HALF_HOUR_AGO();
    await p1.store.accounts.createAgent(agentRecord('ag_half', 'half-settled', 1_000_000));
    // Five calls whose process died after settling the decision (cost recorded) but before its hold.
    const ids = ['d_s0', 'd_s1', 'd_s2', 'd_s3', 'd_s4'];
    for (const [i, id] of ids.entries()) {
      await p1.store.decisions.insert(decision(id, 'ag_half', longAgo));
      expect((await p1.store.accounts.hold('ag_half', id, 100_000, longAgo.toISOString())).ok).toBe(true);
      const cost = 10_000 * (i + 1);
      expect(await p1.store.decisions.updateIfPending(id, { outcome: 'completed', model: 'm', provider: 'p', costMicros: cost, holdMicros: 100_000 })).not.toBeNull();
    }
    expect(await balanceOf(p1.store, 'ag_half')).toBe(500_000);

    const results: SweepResult[] = await Promise.all([p1, p2].map(({ store, appender }) => sweepAbandoned({ store, appender, olderThanMs: 60_000 })));
    const totalCost = 10_000 * (1 + 2 + 3 + 4 + 5);
    expect(results.reduce((n, r) => n + r.recovered, 0)).toBe(5);
    expect(results.reduce((n, r) => n + r.releasedMicros, 0)).toBe(500_000 - totalCost);
    expect(await balanceOf(p2.store, 'ag_half')).toBe(1_000_000 - totalCost);
    expect(await p1.store.accounts.openHolds(FAR_FUTURE, 10)).toEqual([]);
    for (const [i, id] of ids.entries()) {
      const cost = 10_000 * (i + 1);
      // One refunded entry each, from whichever sweep settled it; the decision keeps its outcome and cost.
      expect(await parsed(p1.store, id)).toEqual([expect.objectContaining({ kind: 'refunded', holdMicros: 100_000, costMicros: cost, refundMicros: 100_000 - cost, reason: RECOVERED_REASON })]);
      expect((await p1.store.decisions.byIds([id]))[0]).toMatchObject({ outcome: 'completed', costMicros: cost });
    }
    expect(await Promise.all([p1, p2].map(({ store, appender }) => sweepAbandoned({ store, appender, olderThanMs: 60_000 })))).toEqual([
      { recovered: 0, releasedMicros: 0 },
      { recovered: 0, releasedMicros: 0 },
    ]);
  });

  it('upgrading a data directory of the release before the ledger: a hold it left pending is given back once', async () => {
    const dir = tempDir();
    const longAgo = HALF_HOUR_AGO().toISOString();
    writeLegacyDataDir(
      dir,
      [{ id: 'ag_old', handle: 'old-release', balance: 600_000 }], // 1,000,000 credited; 400,000 held by the two pending calls
      [
        { id: 'd_old_abandoned', agentId: 'ag_old', createdAt: longAgo, outcome: 'pending', holdMicros: 300_000 },
        { id: 'd_old_released', agentId: 'ag_old', createdAt: longAgo, outcome: 'pending', holdMicros: 100_000 },
        { id: 'd_old_done', agentId: 'ag_old', createdAt: longAgo, outcome: 'completed', holdMicros: 50_000, costMicros: 20_000 },
      ],
    );
    const { store, appender } = await instance(dir);
    expect((await store.accounts.openHolds(FAR_FUTURE, 10)).map((h) => [h.decisionId, h.micros, h.migrated])).toEqual([
      ['d_old_abandoned', 300_000, true],
      ['d_old_released', 100_000, true],
    ]);
    // A process of the old release, still running, settles one of them and releases its hold its own way
    // (charge 40,000: 60,000 back). The ledger entry copied from it must then give nothing back.
    expect(await store.decisions.updateIfPending('d_old_released', { outcome: 'completed', costMicros: 40_000 })).not.toBeNull();
    await store.accounts.credit('ag_old', 60_000);

    // This process sweeps while another one starts on the directory (and sweeps at start): one of them gives it back.
    const [r] = await Promise.all([sweepAbandoned({ store, appender, olderThanMs: 60_000 }), start(dir)]);
    expect([0, 300_000]).toContain(r.releasedMicros);
    expect(await balanceOf(store, 'ag_old')).toBe(960_000);
    expect(await store.accounts.openHolds(FAR_FUTURE, 10)).toEqual([]);
    await appender.flush();
    for (const a of apps) await a.appender.flush();
    expect(await parsed(store, 'd_old_abandoned')).toEqual([expect.objectContaining({ kind: 'refunded', holdMicros: 300_000, costMicros: 0, refundMicros: 300_000, reason: RECOVERED_REASON })]);
    expect(await parsed(store, 'd_old_released')).toEqual([]);
    expect((await store.decisions.byIds(['d_old_abandoned']))[0]).toMatchObject({ outcome: 'failed', holdMicros: 300_000 });
  });
});
