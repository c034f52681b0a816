// `ainfera agents create|credit|policy|list`: a local admin tool working directly on the configured
// store. It mirrors the API's rule: admin operations need the admin token environment variable set
// (the CLI presents that same token), so a machine without it cannot mint keys or credit.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { agentView, assertAdminToken, createAccounts, type AgentView } from '../accounts/accounts.js';
import { AccountsError } from '../accounts/errors.js';
import { formatMicros, parseUsdToMicros } from '../accounts/money.js';
import { ConfigError, loadConfig, secretFromEnv, type Config } from '../config.js';
import { logger } from '../log.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/port.js';
import { processIo, type CliIo } from './io.js';


const USAGE = `usage:
  ainfera agents create <handle> [--credit-usd X | --credit-micros N] [--policy JSON|@file] [--json]
  ainfera agents credit <handle> (--usd X | --micros N) [--json]
  ainfera agents policy <handle> [--set JSON|@file | --reset] [--task-type T] [--json]
  ainfera agents list [--json]
options: --config PATH (else AINFERA_CONFIG). Needs the admin token env var (config admin.tokenEnv, default AINFERA_ADMIN_TOKEN).
money: --usd takes dollars with up to 6 decimals; --micros takes integer micro-USD (1 USD = 1,000,000).`;

class UsageError extends Error {}

async function openConfiguredStore(config: Config, env: NodeJS.ProcessEnv): Promise<Store> {
  if (config.store.kind === 'embedded') return openStore({ kind: 'embedded', dataDir: config.store.dataDir });
  const uri = secretFromEnv(config.store.uriEnv, env);
  if (!uri) throw new UsageError(`store is mongodb but ${config.store.uriEnv} is not set`);
  return openStore({ kind: 'mongodb', uri, dbName: config.store.dbName });
}

function readJsonArg(value: string, flag: string): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${flag}: not valid JSON (${(err as Error).message})`);
  }
}

function moneyArg(usd: string | undefined, micros: string | undefined, flags: [string, string], required: boolean): number | undefined {
  if (usd !== undefined && micros !== undefined) throw new UsageError(`give either ${flags[0]} or ${flags[1]}, not both`);
  if (usd !== undefined) {
    const m = parseUsdToMicros(usd);
    if (m === null) throw new UsageError(`${flags[0]}: expected dollars like 12.5 (up to 6 decimals), got ${JSON.stringify(usd)}`);
    return m;
  }
  if (micros !== undefined) {
    if (!/^\d{1,16}$/.test(micros) || !Number.isSafeInteger(Number(micros))) {
      throw new UsageError(`${flags[1]}: expected a non-negative integer, got ${JSON.stringify(micros)}`);
    }
    return Number(micros);
  }
  if (required) throw new UsageError(`one of ${flags[0]} or ${flags[1]} is required`);
  return undefined;
}

function describe(a: AgentView): string {
  return `@${a.handle}  id=${a.id}  balance=${formatMicros(a.balanceMicros)} (${a.balanceMicros} micros)  policy=${a.policy ? JSON.stringify(a.policy) : 'default'}`;
}

/** Runs `agents <subcommand> ...` (argv starts after "agents"); returns the exit code. */
export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        json: { type: 'boolean', default: false },
        'credit-usd': { type: 'string' },
        'credit-micros': { type: 'string' },
        usd: { type: 'string' },
        micros: { type: 'string' },
        policy: { type: 'string' },
        set: { type: 'string' },
        reset: { type: 'boolean', default: false },
        'task-type': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [sub, handle, ...extra] = positionals;
  if (v.help || !sub) {
    (v.help ? io.stdout : io.stderr).write(`${USAGE}\n`);
    return v.help ? 0 : 2;
  }
  const out = (human: string, data: unknown): void => {
    io.stdout.write(v.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  };

  let store: Store | undefined;
  try {
    if (!['create', 'credit', 'policy', 'list'].includes(sub)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`);
    const needsHandle = sub !== 'list';
    if (needsHandle && !handle) throw new UsageError(`${sub}: <handle> is required`);
    if ((needsHandle ? extra.length : positionals.length - 1) > 0) throw new UsageError(`unexpected argument(s): ${(needsHandle ? extra : positionals.slice(1)).join(' ')}`);

    const config = loadConfig({ ...(v.config !== undefined ? { path: v.config } : {}), env: io.env });
    // Info logs would interleave with the output (and break --json): only warnings and errors here.
    if (config.log.level === 'silent' || config.log.level === 'fatal' || config.log.level === 'error') logger.level = config.log.level;
    else logger.level = 'warn';
    const adminToken = secretFromEnv(config.admin.tokenEnv, io.env);
    // Refuse before touching the store (mirrors the API: no token configured, no admin operations).
    assertAdminToken(config.admin.tokenEnv, adminToken, io.env);

    store = await openConfiguredStore(config, io.env);
    const accounts = createAccounts({ store, adminTokenEnv: config.admin.tokenEnv, env: io.env });

    switch (sub) {
      case 'create': {
        const creditMicros = moneyArg(v['credit-usd'], v['credit-micros'], ['--credit-usd', '--credit-micros'], false);
        const policy = v.policy !== undefined ? readJsonArg(v.policy, '--policy') : undefined;
        const { agent, apiKey } = await accounts.createAgent(adminToken, { handle: handle!, creditMicros: creditMicros ?? 0, policy });
        out(`created ${describe(agent)}\nAPI key (shown once, store it now): ${apiKey}`, { agent, apiKey });
        return 0;
      }
      case 'credit': {
        const micros = moneyArg(v.usd, v.micros, ['--usd', '--micros'], true)!;
        const agent = await accounts.credit(adminToken, { handle: handle! }, micros);
        out(`credited ${formatMicros(micros)}: ${describe(agent)}`, { agent });
        return 0;
      }
      case 'policy': {
        if (v.set !== undefined && v.reset) throw new UsageError('give either --set or --reset, not both');
        const opts = v['task-type'] !== undefined ? { taskType: v['task-type'] } : {};
        if (v.set === undefined && !v.reset) {
          const agent = await accounts.getAgent({ handle: handle! });
          if (!agent) throw new UsageError(`no agent @${handle}`);
          const view = agentView(agent);
          out(describe(view), { agent: view });
          return 0;
        }
        const policy = v.reset ? null : readJsonArg(v.set!, '--set');
        const agent = await accounts.setPolicy(adminToken, { handle: handle! }, policy, opts);
        out(`policy set: ${describe(agent)}`, { agent });
        return 0;
      }
      case 'list': {
        const agents = await accounts.listAgents(adminToken);
        out(agents.length ? agents.map(describe).join('\n') : '(no agents)', { agents });
        return 0;
      }
    }
    return 2;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof AccountsError || err instanceof ConfigError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await store?.close();
  }
}
