// The per-request GraphQL context: who is calling (agent key or admin token) and a fresh loader set.
import { GraphQLError } from 'graphql';
import { looksLikeApiKey } from '../accounts/keys.js';
import type { AgentRecord } from '../store/port.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { ApiDeps } from './ports.js';

export interface ApiContext {
  deps: ApiDeps;
  /** The calling agent (from its API key), or null for anonymous and admin callers. */
  agent: AgentRecord | null;
  /** The admin token as presented, set only when it is valid (admin operations pass it to accounts). */
  adminToken: string | null;
  isAdmin: boolean;
  loaders: Loaders;
  /** Aborted when the HTTP client goes away (useExecutionCancellation); stops the provider call. */
  signal: AbortSignal | undefined;
}

/** Credentials as presented: the bearer token and/or an x-admin-token header (HTTP) or connectionParams (WS). */
export interface Credentials {
  bearer: string | null;
  adminToken: string | null;
}

export interface Caller {
  agent: AgentRecord | null;
  adminToken: string | null;
}

function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

/**
 * Resolves credentials to a caller. No credentials: anonymous (public reads only). A credential that is
 * presented but wrong is refused outright, so a typo never silently degrades to anonymous.
 * `Authorization: Bearer <token>` carries either an agent key (`ak_…`) or the admin token.
 */
export async function resolveCaller(deps: ApiDeps, creds: Credentials): Promise<Caller> {
  let agent: AgentRecord | null = null;
  let adminToken: string | null = null;
  if (creds.bearer !== null) {
    if (looksLikeApiKey(creds.bearer)) {
      agent = await deps.accounts.authenticate(creds.bearer);
      if (!agent) throw unauthenticated('unknown API key');
    } else if (deps.accounts.isAdmin(creds.bearer)) {
      adminToken = creds.bearer;
    } else {
      throw unauthenticated('invalid bearer token: neither an agent API key nor the admin token');
    }
  }
  if (creds.adminToken !== null) {
    if (!deps.accounts.isAdmin(creds.adminToken)) throw unauthenticated('invalid admin token');
    adminToken = creds.adminToken;
  }
  return { agent, adminToken };
}

export function createContext(deps: ApiDeps, caller: Caller, signal?: AbortSignal): ApiContext {
  return {
    deps,
    agent: caller.agent,
    adminToken: caller.adminToken,
    isAdmin: caller.adminToken !== null,
    loaders: createLoaders(deps.store),
    signal,
  };
}

export function requireAgent(ctx: ApiContext): AgentRecord {
  if (!ctx.agent) {
    throw new GraphQLError('this operation needs an agent API key (Authorization: Bearer ak_…)', {
      extensions: { code: 'UNAUTHENTICATED' },
    });
  }
  return ctx.agent;
}

export function requireAdmin(ctx: ApiContext): string {
  if (!ctx.adminToken) {
    throw new GraphQLError('this operation needs the admin token (Authorization: Bearer <token> or x-admin-token)', {
      extensions: { code: 'FORBIDDEN' },
    });
  }
  return ctx.adminToken;
}

/** Private detail (decisions, candidates, errors) is visible to the owning agent and the admin only. */
export function canSeeAgentsPrivate(ctx: ApiContext, agentId: string): boolean {
  return ctx.isAdmin || (ctx.agent !== null && ctx.agent.id === agentId);
}
