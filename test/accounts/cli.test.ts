import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/accounts/keys.js';
import { run } from '../../src/cli/agents.js';
import { openStore } from '../../src/store/index.js';

let dir: string;
let configPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ainfera-cli-'));
  configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ store: { kind: 'embedded', dataDir: join(dir, 'data') }, log: { level: 'silent' } }));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: NodeJS.ProcessEnv = { AINFERA_ADMIN_TOKEN: 't0k' }) {
  let stdout = '';
  let stderr = '';
  const code = await run([...args, '--config', configPath], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { code, stdout, stderr };
}

describe('ainfera agents', () => {
  it('creates, credits, sets policy and lists on the configured store', async () => {
    const created = await cli(['create', 'robo', '--credit-usd', '2.5', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const { agent, apiKey } = JSON.parse(created.stdout) as { agent: { handle: string; balanceMicros: number }; apiKey: string };
    expect(agent).toMatchObject({ handle: 'robo', balanceMicros: 2_500_000 });

    expect((await cli(['credit', 'robo', '--micros', '500000'])).code).toBe(0);
    const pol = await cli(['policy', 'robo', '--set', '{"caps":{"costCeilingMicros":1000}}', '--task-type', 'code', '--json']);
    expect(pol.code).toBe(0);
    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('@robo');
    expect(list.stdout).toContain('$3.000000');
    expect(list.stdout).not.toContain(apiKey);

    const store = await openStore({ kind: 'embedded', dataDir: join(dir, 'data') });
    try {
      const rec = await store.accounts.agentByHandle('robo');
      expect(rec?.keyHash).toBe(hashApiKey(apiKey));
      expect(rec?.balanceMicros).toBe(3_000_000);
      expect(rec?.policy).toEqual({ caps: {}, byTaskType: { code: { caps: { costCeilingMicros: 1000 } } } });
    } finally {
      await store.close();
    }
  });

  it('refuses without the admin token env var, before touching the store', async () => {
    const r = await cli(['create', 'robo'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('AINFERA_ADMIN_TOKEN');
  });

  it('names bad input and changes nothing', async () => {
    expect((await cli(['create', 'Bad Handle'])).stderr).toContain('handle');
    expect((await cli(['create', 'ok', '--credit-usd', '1.1234567'])).code).toBe(2);
    expect((await cli(['credit', 'ok'])).code).toBe(2);
    const pol = await cli(['create', 'ok2', '--policy', '{"caps":{"costCeilingMicros":-5}}']);
    expect(pol.code).toBe(1);
    expect(pol.stderr).toContain('policy.caps.costCeilingMicros');
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['list', '--bogus'])).code).toBe(2);
    const list = await cli(['list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual({ agents: [] });
  });
});
