// `npm start` (src/server/start.mjs): bundles the CLI with esbuild and serves from the bundle on plain
// node. The bundle must behave as the sources do, including files found next to a source module
// (the catalog's reference prices, the web page's sources).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'ainfera-start-'));
let child: ChildProcess | null = null;
afterAll(() => {
  // Whatever happened in the test (a failed expectation, a timeout), no server outlives it.
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start (bundled server)', () => {
  it('serves the page, the catalog and a routed call from the bundle, without tsx, and stops cleanly', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, store: { kind: 'embedded', dataDir: join(dir, 'data') } }));
    const proc = spawn(process.execPath, ['src/server/start.mjs', 'serve', '--config', config], { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    let err = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const started = Date.now();
        const timer = setInterval(() => {
          if (Date.now() - started > 20_000) {
            clearInterval(timer);
            reject(new Error(`server did not start in 20 s: ${out}${err}`));
          }
          const m = /Ainfera is up: page (http:\/\/[^/\s]+)\//.exec(out + err);
          if (m) {
            clearInterval(timer);
            resolve(m[1]!);
          }
        }, 50);
        void exited.then((code) => {
          clearInterval(timer);
          reject(new Error(`server exited (${code}): ${err}`));
        });
      });
      expect(err).not.toContain('running it with tsx');
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      const script = /src="(\/web\/[^"]+\.js)"/.exec(await page.text());
      expect(script).not.toBeNull();
      expect((await fetch(`${url}${script![1]}`)).status).toBe(200);
      const models = (await (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ models { id } }' }) })).json()) as { data: { models: { id: string }[] } };
      expect(models.data.models.length).toBeGreaterThan(5);
      const key = /Its API key[^\n]*\n\s*(ak_\S+)/.exec(out + err)?.[1];
      expect(key).toBeDefined();
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hello' }] }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 30_000);
});
