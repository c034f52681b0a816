// Operator configuration (a contract: shared/DESIGN.md "Configuration").
// One JSON file, path from --config or AINFERA_CONFIG; every field has a default so the server starts
// with no file. Secrets never live in the file: it names the environment variables that hold them.
// Unknown or mistyped fields are refused with the field's path, so a typo never silently falls back
// to a default in production.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

const TASK_TYPES = ['tool_use', 'vision', 'extraction', 'code', 'reasoning', 'summarization', 'drafting', 'chat'] as const;

const micros = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const probability = z.number().min(0).max(1);
const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name (A-Z, 0-9, _)');
const positiveMs = z.number().int().positive();

const capsSchema = z.strictObject({
  /** Cost ceiling per call, integer micro-USD. */
  costCeilingMicros: micros.optional(),
  /** Latency target per call, predicted from live latency. */
  latencyTargetMs: positiveMs.optional(),
  /** Minimum finish probability (the bar). */
  minFinishProbability: probability.optional(),
});

const pinSchema = z.strictObject({
  model: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
});

const policyLayerSchema = z.strictObject({
  caps: capsSchema.default({}),
  pin: pinSchema.optional(),
});

/** Caps, pins and bar for an agent, with per-task-type overrides. */
export const agentPolicySchema = z.strictObject({
  caps: capsSchema.default({}),
  pin: pinSchema.optional(),
  byTaskType: z.partialRecord(z.enum(TASK_TYPES), policyLayerSchema).default({}),
});

const providerModelSchema = z.strictObject({
  /** Model id the provider expects in the request body. */
  upstream: z.string().min(1),
  /** Used when the provider publishes no live price. Integer micro-USD per million tokens. */
  inputPerMTokMicros: micros.optional(),
  outputPerMTokMicros: micros.optional(),
});

const providerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a lowercase slug'),
  kind: z.literal('openai-compatible').default('openai-compatible'),
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** Name of the environment variable holding the API key (never the key itself). */
  apiKeyEnv: envVarName.optional(),
  /** Where live prices come from: the provider's OpenRouter-format /models list, or this file. */
  pricesFrom: z.enum(['models-endpoint', 'config']).default('config'),
  priceRefreshMs: positiveMs.default(15 * 60_000),
  /** Catalog model id → how this provider serves it. */
  models: z.record(z.string().min(1), providerModelSchema).default({}),
});

const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('embedded'), dataDir: z.string().min(1).default('./data') }),
  z.strictObject({
    kind: z.literal('mongodb'),
    /** Name of the environment variable holding the connection string (it may carry credentials). */
    uriEnv: envVarName.default('MONGODB_URI'),
    dbName: z.string().min(1).default('ainfera'),
    /** Local directory for the signing key and demo files when the chain lives in MongoDB. */
    dataDir: z.string().min(1).default('./data'),
  }),
]);

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      // Never all interfaces unless asked.
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(4000),
    })
    .default({ host: '127.0.0.1', port: 4000 }),
  store: storeSchema.default({ kind: 'embedded', dataDir: './data' }),
  chain: z
    .strictObject({
      /** C2SP checkpoint origin line: names this log. */
      origin: z.string().min(1).regex(/^[^\s]+$/, 'must contain no white space').default('ainfera.local/chain'),
      /** Environment variable with a base64 Ed25519 seed; else <dataDir>/signing-key.json, created on first start. */
      signingKeyEnv: envVarName.default('AINFERA_SIGNING_KEY'),
      keyFile: z.string().min(1).optional(),
      checkpointIntervalMs: positiveMs.default(1000),
    })
    .default({ origin: 'ainfera.local/chain', signingKeyEnv: 'AINFERA_SIGNING_KEY', checkpointIntervalMs: 1000 }),
  providers: z.array(providerSchema).default([]),
  simulatedFleet: z
    .strictObject({
      /** auto: on when no real provider is configured (the default run needs no keys). */
      enabled: z.union([z.literal('auto'), z.boolean()]).default('auto'),
      seed: z.number().int().default(1),
      /** >1 runs the simulated models faster than their reference speed. */
      timeScale: z.number().positive().default(1),
      /** Random 429/5xx and a scripted outage now and then. */
      faults: z.boolean().default(true),
    })
    .default({ enabled: 'auto', seed: 1, timeScale: 1, faults: true }),
  routing: z
    .strictObject({
      /** Minimum finish probability per task type (the bar). */
      bar: z.partialRecord(z.enum(TASK_TYPES), probability).default({}),
      defaultBar: probability.default(0.6),
      caps: capsSchema.default({}),
      /** Attempts per call, the first included. */
      retryBudget: z.number().int().min(1).max(10).default(4),
      deadlineMs: positiveMs.default(120_000),
      timeouts: z
        .strictObject({
          connectMs: positiveMs.default(5_000),
          firstTokenMs: positiveMs.default(30_000),
          stallMs: positiveMs.default(20_000),
          totalMs: positiveMs.default(120_000),
        })
        .default({ connectMs: 5_000, firstTokenMs: 30_000, stallMs: 20_000, totalMs: 120_000 }),
      /** Share of calls that try a less-sampled eligible model, to keep estimates fresh. */
      exploration: probability.default(0.02),
    })
    .default({
      bar: {},
      defaultBar: 0.6,
      caps: {},
      retryBudget: 4,
      deadlineMs: 120_000,
      timeouts: { connectMs: 5_000, firstTokenMs: 30_000, stallMs: 20_000, totalMs: 120_000 },
      exploration: 0.02,
    }),
  defaultAgentPolicy: agentPolicySchema.default({ caps: {}, byTaskType: {} }),
  admin: z
    .strictObject({
      /** Environment variable holding the admin token; admin operations are refused when it is unset. */
      tokenEnv: envVarName.default('AINFERA_ADMIN_TOKEN'),
    })
    .default({ tokenEnv: 'AINFERA_ADMIN_TOKEN' }),
  api: z
    .strictObject({
      maxBodyBytes: z.number().int().positive().default(1_000_000),
      maxDepth: z.number().int().positive().default(12),
      maxCost: z.number().int().positive().default(5_000),
      /** GraphiQL is served only when this is true; default: on unless NODE_ENV=production. */
      graphiql: z.boolean().optional(),
      /** Bounded buffer per chainEvents subscriber before it is closed with an error. */
      subscriberBufferLimit: z.number().int().positive().default(10_000),
      /** Operations (subscriptions included) running at once on one WebSocket. */
      maxOperationsPerSocket: z.number().int().positive().default(64),
      /** Open WebSocket connections; more are refused with 503 (anonymous sockets are allowed). */
      maxWebSockets: z.number().int().positive().default(2_000),
    })
    .default({ maxBodyBytes: 1_000_000, maxDepth: 12, maxCost: 5_000, subscriberBufferLimit: 10_000, maxOperationsPerSocket: 64, maxWebSockets: 2_000 }),
  demo: z
    .strictObject({
      /**
       * Create a demo agent on first start and write its key to <dataDir>/demo-agent.key (0600).
       * auto: only while the simulated fleet runs, so a deployment on real providers never gets a funded
       * demo key it did not ask for.
       */
      enabled: z.union([z.literal('auto'), z.boolean()]).default('auto'),
      creditMicros: micros.default(10_000_000),
    })
    .default({ enabled: 'auto', creditMicros: 10_000_000 }),
  health: z
    .strictObject({
      /**
       * On shutdown, GET /ready answers 503 for this long while the server still serves, before it stops
       * accepting: time for a load balancer to see it and send traffic elsewhere. Set it to at least the
       * balancer's probe interval x failure threshold. 0: stop accepting at once.
       */
      drainDelayMs: z.number().int().nonnegative().default(0),
      /** The store is pinged (a read-only round trip) for /ready at most this often; probes in between reuse the answer. */
      storeCheckMs: positiveMs.default(2_000),
      /** A store read slower than this counts as unreachable (keep it under the balancer's probe timeout). */
      storeTimeoutMs: positiveMs.default(500),
      /** Chain writes pending with no progress for this long make /ready answer 503 (chain_stalled). */
      chainStallMs: positiveMs.default(10_000),
      /**
       * /ready answers 503 while no provider offering is servable (every breaker open). Breakers are shared
       * across instances, so all of them turn unready together; set false to keep serving the 422s that say why.
       */
      readyRequiresServable: z.boolean().default(true),
    })
    .default({ drainDelayMs: 0, storeCheckMs: 2_000, storeTimeoutMs: 500, chainStallMs: 10_000, readyRequiresServable: true }),
  metrics: z
    .strictObject({
      /** Serve GET /metrics (Prometheus text format). */
      enabled: z.boolean().default(true),
      /**
       * Who may read it. admin: the admin token (admin.tokenEnv) as `Authorization: Bearer` or x-admin-token;
       * with no admin token set, /metrics answers 403 saying so. public: anyone who reaches the port (it
       * shows call volume and provider mix, never agents, keys, prompts or balances).
       */
      access: z.enum(['admin', 'public']).default('admin'),
      /** Node process metrics too (event-loop lag, heap, RSS, CPU, GC, handles). */
      processMetrics: z.boolean().default(true),
    })
    .default({ enabled: true, access: 'admin', processMetrics: true }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export type Config = z.infer<typeof configSchema>;
export type AgentPolicyConfig = z.infer<typeof agentPolicySchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;

/** A configuration problem, with every offending field named. Nothing starts with a bad config. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
  }
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const at = issue.path.length ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${issue.path.length ? `${at}.` : ''}${key}: unknown field`);
    }
    return [`${at}: ${issue.message}`];
  });
}

/** Validate a parsed config object; throws ConfigError naming every bad field. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = describeIssues(result.error.issues);
    throw new ConfigError(`Invalid ${source}:\n  ${problems.join('\n  ')}`, problems);
  }
  return result.data;
}

export interface LoadConfigOptions {
  /** Path from --config; falls back to AINFERA_CONFIG. */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

/** Load the config file (if any), then apply the HOST and PORT environment overrides. */
export function loadConfig({ path, env = process.env }: LoadConfigOptions = {}): Config {
  const file = path ?? env.AINFERA_CONFIG;
  let raw: unknown = {};
  if (file) {
    const abs = resolve(file);
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch (err) {
      throw new ConfigError(`Cannot read config file ${abs}: ${(err as Error).message}`, [`file: ${abs}`]);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`Config file ${abs} is not valid JSON: ${(err as Error).message}`, [`file: ${abs}`]);
    }
  }
  const config = parseConfig(raw, file ? `config file ${resolve(file)}` : 'config');
  if (env.HOST !== undefined && env.HOST !== '') config.listen.host = env.HOST;
  if (env.PORT !== undefined && env.PORT !== '') {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(env.PORT)}`, ['PORT']);
    }
    config.listen.port = port;
  }
  return config;
}

/** Read a secret from the environment variable the config names; undefined when unset or empty. */
export function secretFromEnv(name: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!name) return undefined;
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
