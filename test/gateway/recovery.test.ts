// Crash recovery over the real composition root: a data directory left as a process that died between
// the hold and the refund leaves it (pending decision, money held), then two apps started on it at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/server/app.js';
import { openStore } from '../../src/store/index.js';
import type { DecisionRecord } from '../../src/store/port.js';
import { testConfig } from '../helpers/server.js';

const dirs: string[] = [];
const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(dataDir: string): Promise<App> {
  return createApp(testConfig(dataDir, { demo: { enabled: false } }), { env: {}, fleet: { chaos: false, timeScale: 50 }, signingWorkers: 0 }).then((a) => {
    apps.push(a);
    return a;
  });
}

function pending(id: string, agentId: string, createdAt: Date, holdMicros: number): DecisionRecord {
  return {
    id,
    agentId,
    createdAt: createdAt.toISOString(),
    taskType: 'chat',
    model: null,
    provider: null,
    outcome: 'pending',
    holdMicros,
    costMicros: 0,
    latencyMs: null,
    idempotencyKey: null,
    chainSeqs: [],
    detail: { v: 1, requestHash: `0x${'ab'.repeat(32)}`, decision: null, message: null, result: null },
    feedback: null,
  };
}

describe('crash recovery', () => {
  it('gives back the hold of a decision a crashed process left pending, once, across two apps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ainfera-recover-'));
    dirs.push(dir);
    // What a crashed process leaves: money held, decisions pending. One abandoned long ago, one that a
    // live process in another instance may still be running (recent): that one must not be touched.
    const crashed = await openStore({ kind: 'embedded', dataDir: dir });
    await crashed.accounts.createAgent({ id: 'ag_crash', handle: 'crash-victim', keyHash: 'kh-crash', balanceMicros: 1_000_000, policy: null, createdAt: new Date().toISOString() });
    expect(await crashed.accounts.hold('ag_crash', 300_000)).toEqual({ ok: true, balanceMicros: 700_000 });
    await crashed.decisions.insert(pending('d_abandoned', 'ag_crash', new Date(Date.now() - 30 * 60_000), 300_000));
    expect(await crashed.accounts.hold('ag_crash', 50_000)).toEqual({ ok: true, balanceMicros: 650_000 });
    await crashed.decisions.insert(pending('d_live', 'ag_crash', new Date(), 50_000));
    await crashed.close();

    // Two processes start on the data directory at the same time: both sweep at start.
    const [a, b] = await Promise.all([start(dir), start(dir)]);
    const balance = async () => (await a.store.accounts.agentsByIds(['ag_crash']))[0]!.balanceMicros;
    expect(await balance()).toBe(950_000);

    const [abandoned, live] = await a.store.decisions.byIds(['d_abandoned', 'd_live']);
    expect(abandoned).toMatchObject({ outcome: 'failed', holdMicros: 300_000, costMicros: 0 });
    expect((abandoned!.detail as { recovered?: { reason: string } }).recovered?.reason).toBe('recovered_after_crash');
    expect(live).toMatchObject({ outcome: 'pending', holdMicros: 50_000 });

    await a.appender.flush();
    await b.appender.flush();
    const entries = (await a.store.chain.entriesOfDecision('d_abandoned')).map((e) => JSON.parse(e.canonical) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ kind: 'refunded', agent: 'crash-victim', decision: 'd_abandoned', holdMicros: 300_000, costMicros: 0, refundMicros: 300_000, reason: 'recovered_after_crash' });
    expect(entries[0]).not.toHaveProperty('balanceMicros');
    expect(abandoned!.chainSeqs).toEqual([entries[0]!.seq]);

    // Later sweeps, in either process, find nothing more to give back.
    expect(await a.recovery.sweep()).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await b.recovery.sweep()).toEqual({ recovered: 0, releasedMicros: 0 });
    expect(await balance()).toBe(950_000);
    expect(await a.store.chain.entriesOfDecision('d_abandoned')).toHaveLength(1);
  });
});
