// Streaming verify/export against chains that are live: one that grows while it is being read (the
// snapshot taken at the start is what gets checked and written), and a real Ainfera server
// (startTestServer) verified and exported over HTTP, page by page, with its consistency proofs.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { exportLines, storeSource, type ChainSource } from '../../src/chain/export.js';
import type { ChainAppender } from '../../src/chain/appender.js';
import { ProofService } from '../../src/chain/proofs.js';
import { createAuditHandler } from '../../src/server/audit-routes.js';
import { fetchConsistency, httpSource } from '../../src/cli/chain-source.js';
import { verifyLines, verifySource } from '../../src/cli/verify.js';
import { event, openChain, tempDir } from '../chain/appender.helpers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { corruptProof, recording, referenceExport, signedNote } from './streaming.helpers.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  return { code, stdout, stderr };
}

let seq = 0;
/** `rounds` times: 1-2 entries, then a checkpoint. */
async function grow(appender: ChainAppender, rounds: number): Promise<void> {
  for (let k = 0; k < rounds; k++) {
    await Promise.all(Array.from({ length: 1 + (k % 2) }, () => appender.append(event(seq++))));
    await appender.checkpoint();
  }
}

async function collect(gen: AsyncGenerator<string, unknown>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of gen) out.push(line);
  return out;
}

const end = (lines: string[]) => JSON.parse(lines.at(-1)!) as { type: string; entries: number; checkpoints: number };

describe('a chain that grows while it is read', () => {
  let tmp: ReturnType<typeof tempDir>;
  let c: Awaited<ReturnType<typeof openChain>>;
  let source: ChainSource;
  const counts = async () => ({ entries: ((await c.store.chain.head())?.seq ?? -1) + 1, checkpoints: ((await c.store.chain.latestCheckpoint())?.index ?? -1) + 1 });
  /** The source, except that its first entries() call first appends 10 more rounds (entries and checkpoints). */
  const growingOnce = (inner: ChainSource): ChainSource => {
    let grown = false;
    return {
      ...inner,
      async entries(from, limit) {
        if (!grown) {
          grown = true;
          await grow(c.appender, 10);
        }
        return inner.entries(from, limit);
      },
    };
  };

  beforeAll(async () => {
    tmp = tempDir('ainfera-cli-grow-');
    c = await openChain(tmp.dir);
    await grow(c.appender, 40);
    source = storeSource(c.store.chain, c.keys.origin, c.keys.publicKeys(), 'test');
  });
  afterAll(async () => {
    await c.close();
    tmp.cleanup();
  });

  it('verify and export cover exactly the head read at the start; the next run sees the rest', async () => {
    const before = await counts();
    expect(await verifySource(growingOnce(source), { pageSize: 8 })).toMatchObject({ ok: true, ...before, latestCheckpointSize: before.entries });
    const grown = await counts();
    expect(grown.checkpoints).toBe(before.checkpoints + 10);

    const lines = await collect(exportLines(growingOnce(source), { pageSize: 8 }));
    expect(end(lines)).toEqual({ type: 'end', ...grown });
    expect(await verifyLines(lines)).toMatchObject({ ok: true, ...grown, latestCheckpointSize: grown.entries });

    // A server tells no entry count: its entries are read to the log's end, its checkpoints up to the
    // latest one at the start.
    const serverLike: ChainSource = { ...source, head: async () => ({ ...(await source.head()), entries: null }) };
    const atStart = await counts();
    const v = await verifySource(growingOnce(serverLike), { pageSize: 8 });
    const now = await counts();
    expect(now.entries).toBeGreaterThan(atStart.entries);
    expect(v).toMatchObject({ ok: true, entries: now.entries, checkpoints: atStart.checkpoints, latestCheckpointSize: atStart.entries });
    expect(await verifySource(source, { pageSize: 8 })).toMatchObject({ ok: true, ...now, latestCheckpointSize: now.entries });
  });
});

describe('ainfera verify / export over HTTP against a real server', () => {
  let s: TestServer;
  let tmp: ReturnType<typeof tempDir>;
  let total: number;
  let checkpoints: number;
  const consistency = (a: number, b: number) => fetchConsistency(s.url, a, b);

  beforeAll(async () => {
    tmp = tempDir('ainfera-cli-http-');
    s = await startTestServer();
    await grow(s.app.appender, 150);
    await s.app.appender.flush();
    await s.app.appender.checkpoint();
    total = ((await s.app.store.chain.head())?.seq ?? -1) + 1;
    checkpoints = ((await s.app.store.chain.latestCheckpoint())?.index ?? -1) + 1;
    expect(checkpoints).toBeGreaterThanOrEqual(150);
  });
  afterAll(async () => {
    await s.close();
    tmp.cleanup();
  });

  it('verifies every entry, checkpoint and consistency proof a page at a time, and exports the documented file', async () => {
    const r = await cli(['verify', s.url]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`OK: ${total} entries and ${checkpoints} checkpoints verified (latest checkpoint size ${total}, ${checkpoints - 1} consistency proofs;`);

    const rec = recording(httpSource(s.url));
    expect(await verifySource(rec.source, { pageSize: 16, consistency })).toMatchObject({ ok: true, entries: total, checkpoints, consistencyProofs: checkpoints - 1 });
    expect(rec.stats.checkpointsRead).toBe(checkpoints);
    expect(rec.stats.maxAhead).toBeLessThanOrEqual(16);

    const file = join(tmp.dir, 'from-url.jsonl');
    expect((await cli(['export', '--url', s.url, '--out', file])).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const reference = await referenceExport(s.app.store.chain, s.app.keys.origin, s.app.keys, 'x', s.url);
    expect(lines.slice(1)).toEqual(reference.slice(1));
    expect((await cli(['verify', file])).code).toBe(0);
  });

  it('a bad served consistency proof is inconsistent_checkpoint; a server behind the remembered checkpoint is a rollback', async () => {
    const cps = await s.app.store.chain.checkpoints(0, checkpoints);
    const [a, b] = [cps[100]!, cps[101]!];
    const bad = await verifySource(httpSource(s.url), { consistency: async (from, to) => (from === a.size && to === b.size ? corruptProof(await consistency(from, to)) : consistency(from, to)) });
    expect(bad).toMatchObject({ ok: false, reason: 'inconsistent_checkpoint', checkpointSize: b.size });

    const state = join(tmp.dir, 'state.note');
    writeFileSync(state, await signedNote(s.app.store.chain, s.app.keys, total + 5, new Uint8Array(32).fill(1)));
    const r = await cli(['verify', s.url, '--state', state]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`FAILED at checkpoint of size ${total + 5}: checkpoint_rollback`));
  });

  it('entries and checkpoints appended during a run: checkpoints up to the latest at the start, entries to the end', async () => {
    const inner = httpSource(s.url);
    let grown = false;
    const growing: ChainSource = {
      ...inner,
      async entries(from, limit) {
        if (!grown) {
          grown = true;
          await grow(s.app.appender, 6);
        }
        return inner.entries(from, limit);
      },
    };
    const v = await verifySource(growing, { pageSize: 50, consistency });
    const now = ((await s.app.store.chain.head())?.seq ?? -1) + 1;
    expect(now).toBeGreaterThan(total);
    expect(v).toMatchObject({ ok: true, entries: now, checkpoints, consistencyProofs: checkpoints - 1, latestCheckpointSize: total });
  });
});

describe('a server with no checkpoint yet', () => {
  it('verifies and exports its (empty) chain: the latest checkpoint is a 404 no_checkpoint, not an error', async () => {
    const tmp = tempDir('ainfera-cli-empty-http-');
    const c = await openChain(tmp.dir);
    const proofs = await ProofService.open(c.store.chain);
    const handler = createAuditHandler({ chain: c.store.chain, proofs, publicKeys: () => c.keys.publicKeys() });
    const server = createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await httpSource(base).head()).toEqual({ checkpoint: null, entries: null });
      const r = await cli(['verify', base]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^OK: 0 entries and 0 checkpoints verified \(no checkpoint yet;/);
      expect(end(await collect(exportLines(httpSource(base))))).toEqual({ type: 'end', entries: 0, checkpoints: 0 });
      // One entry appended, not yet under a checkpoint: verified, and counted, all the same.
      await c.appender.append(event(0));
      expect(await verifySource(httpSource(base))).toMatchObject({ ok: true, entries: 1, checkpoints: 0, latestCheckpointSize: null });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      proofs.close();
      await c.close();
      tmp.cleanup();
    }
  });
});
