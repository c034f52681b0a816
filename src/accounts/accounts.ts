// Agents: API keys (shown once, stored hashed), a public handle shown on the chain, a balance in integer
// micro-USD and a routing policy (per agent and per task type). Admin operations need the admin token
// from the environment variable the config names; with that variable unset they are refused outright.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { agentPolicySchema, secretFromEnv, type AgentPolicyConfig } from '../config.js';
import { logger } from '../log.js';
import { TASK_TYPES } from '../routing/types.js';
import type { AgentRecord, Store } from '../store/port.js';
import { StoreConflictError } from '../store/port.js';
import {
  AccountsInputError,
  AdminDisabledError,
  AdminRequiredError,
  AgentNotFoundError,
  HandleTakenError,
} from './errors.js';
import { generateApiKey, hashApiKey, looksLikeApiKey, tokensEqual } from './keys.js';

/** Handles are public (on the chain): lowercase slug, 1..40 chars, no leading/trailing hyphen. */
const HANDLE_RE = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** Names that would read as the system itself on the chain. */
const RESERVED_HANDLES = new Set(['admin', 'ainfera', 'system', 'root', 'anonymous', 'public']);

/** Task types a policy layer may be set for (same list as config.ts). */
export const POLICY_TASK_TYPES: readonly string[] = TASK_TYPES;

export type AgentPolicy = AgentPolicyConfig;

/** An agent as shown to its owner or the admin: never the key hash. */
export interface AgentView {
  id: string;
  handle: string;
  balanceMicros: number;
  /** null: the operator's default agent policy applies. */
  policy: AgentPolicy | null;
  createdAt: string;
}

export interface CreateAgentInput {
  handle: string;
  /** Initial credit, integer micro-USD (default 0). */
  creditMicros?: number;
  /** Validated with agentPolicySchema; omit to use the operator's default policy. */
  policy?: unknown;
}

export interface AccountsDeps {
  store: Store;
  /** config.admin.tokenEnv */
  adminTokenEnv: string;
  /** Where the admin token is read (default process.env); read on every call so rotation needs no restart. */
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

export interface Accounts {
  /** Throws AdminDisabledError / AdminRequiredError unless `adminToken` matches. */
  assertAdmin(adminToken: string | null | undefined): void;
  /** Non-throwing form of assertAdmin. */
  isAdmin(adminToken: string | null | undefined): boolean;
  /** Admin. Returns the agent and its API key: the only time the key exists outside the caller's hands. */
  createAgent(adminToken: string | null | undefined, input: CreateAgentInput): Promise<{ agent: AgentView; apiKey: string }>;
  /** The agent holding this key, or null (malformed, unknown). */
  authenticate(apiKey: string | null | undefined): Promise<AgentRecord | null>;
  /** Admin. Adds credit (positive integer micro-USD); returns the agent with its new balance. */
  credit(adminToken: string | null | undefined, agentRef: AgentRef, micros: number): Promise<AgentView>;
  /**
   * Admin. Replaces the agent's policy (validated with agentPolicySchema), or with `taskType` replaces
   * only that task type's layer. `policy: null` resets to the operator default (or removes the layer).
   */
  setPolicy(adminToken: string | null | undefined, agentRef: AgentRef, policy: unknown, opts?: { taskType?: string }): Promise<AgentView>;
  getAgent(agentRef: AgentRef): Promise<AgentRecord | null>;
  /** Admin. */
  listAgents(adminToken: string | null | undefined): Promise<AgentView[]>;
}

/** An agent named by id or by handle. */
export type AgentRef = { id: string } | { handle: string };

export function validateHandle(handle: unknown, field = 'handle'): string {
  if (typeof handle !== 'string') throw new AccountsInputError(`${field} must be a string`, field);
  if (!HANDLE_RE.test(handle)) {
    throw new AccountsInputError(
      `${field} must be 1-40 characters of a-z, 0-9 and '-', not starting or ending with '-'`,
      field,
    );
  }
  if (RESERVED_HANDLES.has(handle)) throw new AccountsInputError(`${field} ${JSON.stringify(handle)} is reserved`, field);
  return handle;
}

function validatePositiveMicros(micros: unknown, field: string): number {
  if (typeof micros !== 'number' || !Number.isSafeInteger(micros) || micros <= 0) {
    throw new AccountsInputError(`${field} must be a positive integer number of micro-USD`, field);
  }
  return micros;
}

function firstIssue(error: z.ZodError, prefix: string): AccountsInputError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  let message = issue?.message ?? 'invalid';
  if (issue?.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
  return new AccountsInputError(`${path}: ${message}`, path);
}

/** Validates a whole policy; throws AccountsInputError naming the field (`policy.caps.costCeilingMicros`). */
export function parsePolicy(policy: unknown, field = 'policy'): AgentPolicy {
  const r = agentPolicySchema.safeParse(policy);
  if (!r.success) throw firstIssue(r.error, field);
  return r.data;
}

/** The policy stored on an agent, re-validated on read (null when none or unreadable). */
export function storedPolicy(agent: Pick<AgentRecord, 'policy' | 'handle'>): AgentPolicy | null {
  if (agent.policy === null || agent.policy === undefined) return null;
  const r = agentPolicySchema.safeParse(agent.policy);
  if (!r.success) {
    // Only possible if the schema tightened after the policy was stored: fall back to the default, loudly.
    logger.warn({ agent: agent.handle }, 'stored agent policy no longer validates; using the default policy');
    return null;
  }
  return r.data;
}

export function agentView(agent: AgentRecord): AgentView {
  return {
    id: agent.id,
    handle: agent.handle,
    balanceMicros: agent.balanceMicros,
    policy: storedPolicy(agent),
    createdAt: agent.createdAt,
  };
}

/** True iff the admin token env var is set and `token` matches it (constant-time). */
export function isAdminToken(tokenEnv: string, token: string | null | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = secretFromEnv(tokenEnv, env);
  if (expected === undefined || typeof token !== 'string' || token === '') return false;
  return tokensEqual(token, expected);
}

/** True when an admin token is configured (its env var set, read now); false: admin operations are disabled. */
export function adminEnabled(tokenEnv: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return secretFromEnv(tokenEnv, env) !== undefined;
}

/** Throws AdminDisabledError when the env var is unset, AdminRequiredError when `token` does not match. */
export function assertAdminToken(tokenEnv: string, token: string | null | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (!adminEnabled(tokenEnv, env)) throw new AdminDisabledError(tokenEnv);
  if (!isAdminToken(tokenEnv, token, env)) throw new AdminRequiredError();
}

export function createAccounts(deps: AccountsDeps): Accounts {
  const { store } = deps;
  const env = deps.env ?? process.env;
  const now = deps.now ?? (() => new Date());
  const isAdmin = (token: string | null | undefined): boolean => isAdminToken(deps.adminTokenEnv, token, env);
  const assertAdmin = (token: string | null | undefined): void => assertAdminToken(deps.adminTokenEnv, token, env);

  async function resolve(ref: AgentRef): Promise<AgentRecord | null> {
    if ('id' in ref) {
      if (typeof ref.id !== 'string' || ref.id === '') return null;
      const [a] = await store.accounts.agentsByIds([ref.id]);
      return a ?? null;
    }
    if (typeof ref.handle !== 'string' || !HANDLE_RE.test(ref.handle)) return null;
    return store.accounts.agentByHandle(ref.handle);
  }

  async function mustResolve(ref: AgentRef): Promise<AgentRecord> {
    const a = await resolve(ref);
    if (!a) throw new AgentNotFoundError('id' in ref ? `id ${JSON.stringify(ref.id)}` : `@${String(ref.handle)}`);
    return a;
  }

  return {
    assertAdmin,
    isAdmin,

    async createAgent(adminToken, input) {
      assertAdmin(adminToken);
      if (input === null || typeof input !== 'object') throw new AccountsInputError('input must be an object', 'input');
      const handle = validateHandle(input.handle);
      const credit = input.creditMicros ?? 0;
      if (typeof credit !== 'number' || !Number.isSafeInteger(credit) || credit < 0) {
        throw new AccountsInputError('creditMicros must be a non-negative integer number of micro-USD', 'creditMicros');
      }
      const policy = input.policy === undefined || input.policy === null ? null : parsePolicy(input.policy);
      const apiKey = generateApiKey();
      const record: AgentRecord = {
        id: `ag_${randomUUID().replace(/-/g, '')}`,
        handle,
        keyHash: hashApiKey(apiKey),
        balanceMicros: credit,
        policy,
        createdAt: now().toISOString(),
      };
      try {
        const created = await store.accounts.createAgent(record);
        logger.info({ agent: handle, creditMicros: credit }, 'agent created');
        return { agent: agentView(created), apiKey };
      } catch (err) {
        if (err instanceof StoreConflictError && err.field !== 'keyHash') throw new HandleTakenError(handle);
        throw err;
      }
    },

    async authenticate(apiKey) {
      if (typeof apiKey !== 'string' || !looksLikeApiKey(apiKey)) return null;
      return store.accounts.agentByKeyHash(hashApiKey(apiKey));
    },

    async credit(adminToken, ref, micros) {
      assertAdmin(adminToken);
      validatePositiveMicros(micros, 'micros');
      const agent = await mustResolve(ref);
      if (agent.balanceMicros + micros > Number.MAX_SAFE_INTEGER) {
        throw new AccountsInputError('micros would overflow the balance', 'micros');
      }
      const balanceMicros = await store.accounts.credit(agent.id, micros);
      logger.info({ agent: agent.handle, creditMicros: micros, balanceMicros }, 'agent credited');
      return { ...agentView(agent), balanceMicros };
    },

    async setPolicy(adminToken, ref, policy, opts = {}) {
      assertAdmin(adminToken);
      const agent = await mustResolve(ref);
      let next: AgentPolicy | null;
      if (opts.taskType !== undefined) {
        if (!POLICY_TASK_TYPES.includes(opts.taskType)) {
          throw new AccountsInputError(`taskType must be one of ${POLICY_TASK_TYPES.join(', ')}`, 'taskType');
        }
        const base: AgentPolicy = storedPolicy(agent) ?? parsePolicy({});
        const byTaskType: Record<string, unknown> = { ...base.byTaskType };
        if (policy === null || policy === undefined) delete byTaskType[opts.taskType];
        else byTaskType[opts.taskType] = policy;
        try {
          next = parsePolicy({ ...base, byTaskType });
        } catch (err) {
          // Name the field relative to what the caller sent (the layer), not the merged object.
          if (err instanceof AccountsInputError && err.field?.startsWith(`policy.byTaskType.${opts.taskType}`)) {
            const field = `policy${err.field.slice(`policy.byTaskType.${opts.taskType}`.length)}`;
            throw new AccountsInputError(err.message.replace(err.field, field), field);
          }
          throw err;
        }
      } else {
        next = policy === null || policy === undefined ? null : parsePolicy(policy);
      }
      const updated = await store.accounts.setPolicy(agent.id, next);
      if (!updated) throw new AgentNotFoundError(`id ${JSON.stringify(agent.id)}`);
      logger.info({ agent: agent.handle, taskType: opts.taskType ?? null }, 'agent policy set');
      return agentView(updated);
    },

    getAgent: resolve,

    async listAgents(adminToken) {
      assertAdmin(adminToken);
      return (await store.accounts.listAgents()).map(agentView);
    },
  };
}
