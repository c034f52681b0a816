// Two real `ainfera serve` PROCESSES on one SQLite data directory: each routes calls, and a chainEvents
// subscriber on each sees every entry from both, in one gap-free order (the chain never forks). Also the
// default run's demo agent: its key is printed by the first start only and kept in a 0600 file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ChainVerifier } from '../../src/chain/verify.js';
import { subscribe, TEST_ADMIN_TOKEN } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = resolve(import.meta.dirname, '../..');

interface Proc {
  child: ChildProcess;
  url: string;
  /** The human banner (demo key, URLs); stdout carries only JSON log lines. */
  stderr: string;
}

async function startServe(configFile: string): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'serve', '--config', configFile, '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', AINFERA_ADMIN_TOKEN: TEST_ADMIN_TOKEN, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in time\n${stdout}\n${stderr}`)), 45_000);
    const check = () => {
      const m = /Ainfera is up: page (http:\/\/[^/\s]+)\//.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}\n${stdout}\n${stderr}`));
    });
  });
  return {
    child,
    url,
    get stderr() {
      return stderr;
    },
  };
}

function stop(p: Proc | undefined): Promise<number | null> {
  if (!p || p.child.exitCode !== null) return Promise.resolve(p?.child.exitCode ?? null);
  return new Promise((r) => {
    p.child.once('exit', (code) => r(code));
    p.child.kill('SIGTERM');
  });
}

async function gql(url: string, query: string, variables: Record<string, unknown>, auth: string): Promise<Json> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Json;
}

let dir: string;
let a: Proc | undefined;
let b: Proc | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ainfera-mp-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      store: { kind: 'embedded', dataDir: join(dir, 'data') },
      chain: { checkpointIntervalMs: 200 },
      simulatedFleet: { timeScale: 50, faults: false },
      routing: { exploration: 0 },
      log: { level: 'silent' },
    }),
  );
  a = await startServe(configFile);
  b = await startServe(configFile);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.dispose();
  await Promise.all([stop(a), stop(b)]);
  rmSync(dir, { recursive: true, force: true });
});

describe('two server processes on one data directory', () => {
  it('prints the demo key on the first start only and keeps it in a 0600 file', () => {
    const keyFile = join(dir, 'data', 'demo-agent.key');
    expect(a!.stderr).toMatch(/Demo agent "demo" created .*\n\s+ak_[A-Za-z0-9_-]{43}\n/);
    expect(b!.stderr).not.toMatch(/ak_[A-Za-z0-9_-]{43}/);
    expect(b!.stderr).toContain('demo-agent.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(a!.stderr).toMatch(/SIMULATED provider fleet/);
    expect(a!.stderr).toMatch(/GraphQL http:\/\/127\.0\.0\.1:\d+\/graphql .*public chain http:\/\/127\.0\.0\.1:\d+\/v1\/audit\/public/);
  });

  it('a subscriber on each process sees the entries appended by both, in one gap-free order', async () => {
    const mk = async (handle: string) => {
      const r = await gql(a!.url, 'mutation($h: String!) { createAgent(input: { handle: $h, credit: { usd: "20" } }) { ... on AgentCreated { apiKey } } }', { h: handle }, TEST_ADMIN_TOKEN);
      return r.data.createAgent.apiKey as string;
    };
    const keyA = await mk('mp-a');
    const keyB = await mk('mp-b');
    const ws = (url: string) => {
      const c = createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
      clients.push(c);
      return c;
    };
    const QUERY = 'subscription { chainEvents(fromSeq: 0) { seq entry hash sig keyId } }';
    const onA = subscribe<{ chainEvents: Json }>(ws(a!.url), QUERY);
    const onB = subscribe<{ chainEvents: Json }>(ws(b!.url), QUERY);

    const ROUTE = 'mutation($i: RouteInput!) { route(input: $i) { __typename } }';
    const input = (t: string) => ({ i: { messages: [{ role: 'USER', content: t }], maxOutputTokens: 16 } });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => gql(i % 2 ? b!.url : a!.url, ROUTE, input(`mp ${i}`), i % 2 ? keyB : keyA)),
    );
    for (const r of results) expect(r.data?.route.__typename).toBe('RouteSuccess');

    // The head as the store sees it, read through either process.
    const head = (await gql(a!.url, '{ chainHead { headSeq } }', {}, keyA)).data.chainHead.headSeq as number;
    await onA.waitFor((ev) => ev.at(-1)?.chainEvents.seq === head, 20_000);
    await onB.waitFor((ev) => ev.at(-1)?.chainEvents.seq === head, 20_000);
    const seqsA = onA.events.map((e) => e.chainEvents.seq);
    const seqsB = onB.events.map((e) => e.chainEvents.seq);
    expect(seqsA).toEqual(Array.from({ length: head + 1 }, (_, i) => i));
    expect(seqsB).toEqual(seqsA);
    expect(onB.events.map((e) => e.chainEvents.hash)).toEqual(onA.events.map((e) => e.chainEvents.hash));
    const agentsSeen = new Set(onA.events.map((e) => e.chainEvents.entry.agent));
    expect(agentsSeen).toEqual(new Set(['mp-a', 'mp-b']));

    // One chain: hash links and signatures verify across entries written by both processes.
    const keys = await (await fetch(`${a!.url}/v1/audit/keys`)).json();
    const verifier = new ChainVerifier({ keys });
    const progress = verifier.push(onB.events.map((e) => ({ entry: e.chainEvents.entry, hash: e.chainEvents.hash, sig: e.chainEvents.sig, keyId: e.chainEvents.keyId })));
    expect(progress.ok, JSON.stringify(progress)).toBe(true);
    onA.stop();
    onB.stop();
  });

  it('shuts down on SIGTERM with exit code 0', async () => {
    expect(await stop(b)).toBe(0);
    expect(await stop(a)).toBe(0);
  });
});
