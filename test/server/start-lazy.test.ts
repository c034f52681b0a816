// `npm start` (src/server/start.mjs) bundles the CLI into content-hashed ESM chunks under dist/cli/.
// What a user relies on: a default start does not load what only other configurations need (the
// MongoDB driver: ~15 MiB resident, plus the 17 MiB buffer bson allocates), yet a MongoDB-configured
// start still finds its driver; starts running at once never break each other; old builds are cleaned up.
// Which modules a process loaded is recorded by a module resolve hook in that real child process.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { jongodbBinary, startJongodb } from '../store/jongodb.js';

const ROOT = join(import.meta.dirname, '../..');
const START = 'src/server/start.mjs';
const CHUNKS = join(ROOT, 'dist/cli');
const dir = mkdtempSync(join(tmpdir(), 'ainfera-start-lazy-'));
const stoppers: (() => void)[] = [];
afterAll(() => {
  // Whatever happened in a test, no server outlives it.
  for (const stop of stoppers) stop();
  rmSync(dir, { recursive: true, force: true });
});

// A resolve hook (it runs on the loader thread) appends every resolved module URL to a file.
const HOOKS = join(dir, 'hooks.mjs');
writeFileSync(
  HOOKS,
  `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(file, r.url + '\\n');
  return r;
}
`,
);

interface Started {
  url: string;
  loaded(): string[];
  output(): string;
  stop(): Promise<number | null>;
}

let runs = 0;
/** `node src/server/start.mjs serve --config FILE` with the recording hook; resolves once it is up. */
async function startServer(config: object, env: Record<string, string> = {}): Promise<Started> {
  const n = ++runs;
  const configFile = join(dir, `config-${n}.json`);
  const record = join(dir, `loaded-${n}.txt`);
  const register = join(dir, `register-${n}.mjs`);
  writeFileSync(configFile, JSON.stringify(config));
  writeFileSync(record, '');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(HOOKS).href)}, { data: { file: ${JSON.stringify(record)} } });\n`);
  const proc = spawn(process.execPath, ['--import', pathToFileURL(register).href, START, 'serve', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stoppers.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /Ainfera is up: page (http:\/\/[^/\s]+)\//.exec(out);
      if (m) {
        proc.stdout.off('data', onData);
        proc.stderr.off('data', onData);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited (${code}) before it was up: ${out}`)));
  });
  return {
    url,
    loaded: () => readFileSync(record, 'utf8').split('\n').filter(Boolean),
    output: () => out,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

const fromPackage = (urls: string[], name: string) => urls.filter((u) => u.includes(`/node_modules/${name}/`));

describe('npm start loads what the configuration needs, and no more', () => {
  it('a default start (embedded store) serves from the chunked bundle without loading the MongoDB driver', async () => {
    const data = join(dir, 'embedded');
    const s = await startServer({ listen: { host: '127.0.0.1', port: 0 }, store: { kind: 'embedded', dataDir: data } });
    try {
      // Serving for real: the store, the API and the page are all up before we look.
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      expect((await fetch(`${s.url}/`)).status).toBe(200);
      const urls = s.loaded();
      expect(s.output()).not.toContain('running it with tsx');
      expect(urls.some((u) => u.startsWith(pathToFileURL(CHUNKS).href + '/'))).toBe(true);
      // The hook sees package imports (the embedded store's driver is one)...
      expect(fromPackage(urls, 'better-sqlite3').length).toBeGreaterThan(0);
      // ...and the MongoDB driver and its BSON library are not among them.
      expect(fromPackage(urls, 'mongodb')).toEqual([]);
      expect(fromPackage(urls, 'bson')).toEqual([]);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }, 30_000);

  const jongodb = jongodbBinary();
  it.skipIf(!jongodb)('a MongoDB-configured start loads the driver from its own chunk and serves (jongodb look-alike)', async () => {
    const mongo = await startJongodb(jongodb!);
    try {
      const s = await startServer(
        { listen: { host: '127.0.0.1', port: 0 }, store: { kind: 'mongodb', dbName: `start_lazy_${process.pid}`, dataDir: join(dir, 'mongo') } },
        { MONGODB_URI: mongo.uri },
      );
      try {
        expect((await fetch(`${s.url}/health`)).status).toBe(200);
        expect(s.output()).not.toContain('running it with tsx');
        expect(fromPackage(s.loaded(), 'mongodb').length).toBeGreaterThan(0);
        expect(fromPackage(s.loaded(), 'better-sqlite3')).toEqual([]);
      } finally {
        expect(await s.stop()).toBe(0);
      }
    } finally {
      await mongo.stop();
    }
  }, 30_000);
});

/** Runs `node src/server/start.mjs help` (bundles, then prints the usage); resolves with its exit code and output. */
function startHelp(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [START, 'help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    stoppers.push(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    proc.on('exit', (code) => resolve({ code, out }));
  });
}

describe('the chunked bundle on disk', () => {
  it('starts running at once each import a complete bundle', async () => {
    const runs = await Promise.all(Array.from({ length: 4 }, () => startHelp()));
    for (const r of runs) {
      expect(r.out).not.toContain('running it with tsx');
      expect(r.out).toContain('usage: ainfera <command>');
      expect(r.code).toBe(0);
    }
  }, 30_000);

  it('removes files of builds nobody started for an hour, and keeps recent ones', async () => {
    mkdirSync(CHUNKS, { recursive: true });
    const tag = `${process.pid}${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
    const stale = join(CHUNKS, `chunk-STALE${tag}.mjs`);
    const staleTmp = join(CHUNKS, `chunk-STALE${tag}.mjs.123.abcd.tmp`);
    const recent = join(CHUNKS, `chunk-RECENT${tag}.mjs`);
    for (const f of [stale, staleTmp, recent]) writeFileSync(f, 'export {};\n');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    utimesSync(staleTmp, twoHoursAgo, twoHoursAgo);
    try {
      const r = await startHelp();
      expect(r.code).toBe(0);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(staleTmp)).toBe(false);
      // Another start may be running that build (or is writing it right now).
      expect(existsSync(recent)).toBe(true);
    } finally {
      for (const f of [stale, staleTmp, recent]) rmSync(f, { force: true });
    }
  }, 30_000);
});
