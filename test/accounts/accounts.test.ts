import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AccountsInputError,
  AdminDisabledError,
  AdminRequiredError,
  AgentNotFoundError,
  HandleTakenError,
  bearerToken,
  createAccounts,
  formatMicros,
  hashApiKey,
  parseUsdToMicros,
  type Accounts,
} from '../../src/accounts/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/port.js';

const ADMIN = 'admin-secret-token';
let dir: string;
let store: Store;
let accounts: Accounts;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ainfera-accounts-'));
  store = await openStore({ kind: 'embedded', dataDir: dir });
  env = { AINFERA_ADMIN_TOKEN: ADMIN };
  accounts = createAccounts({ store, adminTokenEnv: 'AINFERA_ADMIN_TOKEN', env });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('accounts', () => {
  it('creates an agent whose key is shown once and stored only as its SHA-256', async () => {
    const { agent, apiKey } = await accounts.createAgent(ADMIN, { handle: 'alice', creditMicros: 5_000_000 });
    expect(apiKey).toMatch(/^ak_[A-Za-z0-9_-]{43}$/);
    expect(agent).toMatchObject({ handle: 'alice', balanceMicros: 5_000_000, policy: null });
    expect(agent).not.toHaveProperty('keyHash');
    const stored = await store.accounts.agentByHandle('alice');
    expect(stored?.keyHash).toBe(hashApiKey(apiKey));
    expect(stored?.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(apiKey);

    const authed = await accounts.authenticate(apiKey);
    expect(authed?.id).toBe(agent.id);
    expect(await accounts.authenticate(apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A'))).toBeNull();
    expect(await accounts.authenticate('')).toBeNull();
    expect(await accounts.authenticate(undefined)).toBeNull();
    expect(await accounts.authenticate('not-a-key')).toBeNull();
  });

  it('gives every agent a different key', async () => {
    const a = await accounts.createAgent(ADMIN, { handle: 'a1' });
    const b = await accounts.createAgent(ADMIN, { handle: 'a2' });
    expect(a.apiKey).not.toBe(b.apiKey);
  });

  it('refuses admin operations without the right token, and all of them when the env var is unset', async () => {
    await expect(accounts.createAgent('wrong', { handle: 'bob' })).rejects.toBeInstanceOf(AdminRequiredError);
    await expect(accounts.createAgent(undefined, { handle: 'bob' })).rejects.toBeInstanceOf(AdminRequiredError);
    await expect(accounts.createAgent(ADMIN + 'x', { handle: 'bob' })).rejects.toBeInstanceOf(AdminRequiredError);
    const off = createAccounts({ store, adminTokenEnv: 'AINFERA_ADMIN_TOKEN', env: {} });
    await expect(off.createAgent(ADMIN, { handle: 'bob' })).rejects.toBeInstanceOf(AdminDisabledError);
    await expect(off.createAgent('', { handle: 'bob' })).rejects.toBeInstanceOf(AdminDisabledError);
    expect(off.isAdmin(ADMIN)).toBe(false);
    expect(accounts.isAdmin(ADMIN)).toBe(true);
    expect(await store.accounts.listAgents()).toHaveLength(0);
  });

  it('validates handles and refuses duplicates, changing nothing', async () => {
    for (const bad of ['', 'UPPER', '-lead', 'trail-', 'has space', 'a'.repeat(41), 'admin', 'x/y', 3]) {
      const err = await accounts.createAgent(ADMIN, { handle: bad as string }).catch((e: unknown) => e);
      expect(err, String(bad)).toBeInstanceOf(AccountsInputError);
      expect((err as AccountsInputError).field).toBe('handle');
    }
    await accounts.createAgent(ADMIN, { handle: 'carol' });
    await expect(accounts.createAgent(ADMIN, { handle: 'carol' })).rejects.toBeInstanceOf(HandleTakenError);
    expect(await store.accounts.listAgents()).toHaveLength(1);
  });

  it('credits integer micro-USD only', async () => {
    const { agent } = await accounts.createAgent(ADMIN, { handle: 'dave' });
    const after = await accounts.credit(ADMIN, { handle: 'dave' }, 1_234_567);
    expect(after.balanceMicros).toBe(1_234_567);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, '5' as unknown as number]) {
      const err = await accounts.credit(ADMIN, { id: agent.id }, bad).catch((e: unknown) => e);
      expect(err, String(bad)).toBeInstanceOf(AccountsInputError);
      expect((err as AccountsInputError).field).toBe('micros');
    }
    await expect(accounts.credit(ADMIN, { handle: 'nobody' }, 5)).rejects.toBeInstanceOf(AgentNotFoundError);
    await expect(accounts.credit('nope', { handle: 'dave' }, 5)).rejects.toBeInstanceOf(AdminRequiredError);
    expect((await accounts.getAgent({ handle: 'dave' }))?.balanceMicros).toBe(1_234_567);
  });

  it('sets a policy validated by agentPolicySchema, per agent and per task type', async () => {
    await accounts.createAgent(ADMIN, { handle: 'erin' });
    const p = await accounts.setPolicy(ADMIN, { handle: 'erin' }, { caps: { costCeilingMicros: 20_000 } });
    expect(p.policy).toEqual({ caps: { costCeilingMicros: 20_000 }, byTaskType: {} });
    const q = await accounts.setPolicy(ADMIN, { handle: 'erin' }, { caps: { latencyTargetMs: 900 }, pin: { model: 'x' } }, { taskType: 'code' });
    expect(q.policy?.caps.costCeilingMicros).toBe(20_000);
    expect(q.policy?.byTaskType.code).toEqual({ caps: { latencyTargetMs: 900 }, pin: { model: 'x' } });

    const bad = await accounts.setPolicy(ADMIN, { handle: 'erin' }, { caps: { costCeilingMicros: 1.5 } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(AccountsInputError);
    expect((bad as AccountsInputError).field).toBe('policy.caps.costCeilingMicros');
    const unknown = await accounts.setPolicy(ADMIN, { handle: 'erin' }, { capz: {} }).catch((e: unknown) => e);
    expect((unknown as AccountsInputError).message).toContain('capz');
    const layerBad = await accounts.setPolicy(ADMIN, { handle: 'erin' }, { caps: { latencyTargetMs: -1 } }, { taskType: 'code' }).catch((e: unknown) => e);
    expect((layerBad as AccountsInputError).field).toBe('policy.caps.latencyTargetMs');
    const typeBad = await accounts.setPolicy(ADMIN, { handle: 'erin' }, {}, { taskType: 'poetry' }).catch((e: unknown) => e);
    expect((typeBad as AccountsInputError).field).toBe('taskType');
    // Nothing changed by the refused calls.
    expect((await accounts.getAgent({ handle: 'erin' }))?.policy).toEqual(q.policy);

    const cleared = await accounts.setPolicy(ADMIN, { handle: 'erin' }, null, { taskType: 'code' });
    expect(cleared.policy?.byTaskType).toEqual({});
    const reset = await accounts.setPolicy(ADMIN, { handle: 'erin' }, null);
    expect(reset.policy).toBeNull();
  });

  it('lists agents for the admin only', async () => {
    await accounts.createAgent(ADMIN, { handle: 'f1' });
    await accounts.createAgent(ADMIN, { handle: 'f2' });
    expect((await accounts.listAgents(ADMIN)).map((a) => a.handle).sort()).toEqual(['f1', 'f2']);
    await expect(accounts.listAgents('x')).rejects.toBeInstanceOf(AdminRequiredError);
  });
});

describe('helpers', () => {
  it('parses dollars to micros exactly and formats them back', () => {
    expect(parseUsdToMicros('1.5')).toBe(1_500_000);
    expect(parseUsdToMicros('$0.000001')).toBe(1);
    expect(parseUsdToMicros('0.1')).toBe(100_000);
    expect(parseUsdToMicros('1.0000001')).toBeNull();
    expect(parseUsdToMicros('-1')).toBeNull();
    expect(parseUsdToMicros('1e3')).toBeNull();
    expect(formatMicros(1_500_000)).toBe('$1.500000');
    expect(formatMicros(7)).toBe('$0.000007');
  });

  it('reads bearer tokens', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
  });
});
