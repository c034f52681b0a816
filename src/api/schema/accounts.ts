// Agents: `me` for the calling agent, and the admin operations (create with a key shown once, credit,
// policy). Accounts errors map to typed results naming the field; auth failures are GraphQL errors.
import { GraphQLError } from 'graphql';
import { AccountsError } from '../../accounts/errors.js';
import type { AgentRef as AccountsAgentRef } from '../../accounts/accounts.js';
import { builder } from '../builder.js';
import { requireAdmin, requireAgent } from '../context.js';
import { MoneyInput, MoneyRef, TaskTypeEnum, ValidationErrorRef, moneyFromInput, validationError, type ValidationErrorShape } from './common.js';

/** What the Agent type shows: never the key hash. */
export interface AgentShape {
  id: string;
  handle: string;
  balanceMicros: number;
  policy: unknown;
  createdAt: string;
}

export const AgentRef = builder.objectRef<AgentShape>('Agent').implement({
  description: 'An agent account. Visible to itself and the admin.',
  fields: (t) => ({
    id: t.exposeString('id'),
    handle: t.string({ description: 'Public handle, as shown on the chain.', resolve: (a) => a.handle }),
    balance: t.field({ type: MoneyRef, resolve: (a) => a.balanceMicros }),
    policy: t.field({ type: 'JSON', nullable: true, description: "Caps, pins and bar; null: the operator's default policy applies.", resolve: (a) => a.policy ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
  }),
});

interface AgentCreatedShape {
  type: 'AgentCreated';
  agent: AgentShape;
  apiKey: string;
}

const AgentCreatedRef = builder.objectRef<AgentCreatedShape>('AgentCreated').implement({
  fields: (t) => ({
    agent: t.field({ type: AgentRef, resolve: (r) => r.agent }),
    apiKey: t.string({ description: 'Shown this once; only its hash is stored.', resolve: (r) => r.apiKey }),
  }),
});

interface AgentNotFoundShape {
  type: 'AgentNotFound';
  message: string;
}

const AgentNotFoundRef = builder.objectRef<AgentNotFoundShape>('AgentNotFound').implement({
  fields: (t) => ({ message: t.exposeString('message') }),
});

interface AgentUpdatedShape {
  type: 'AgentUpdated';
  agent: AgentShape;
}

const AgentUpdatedRef = builder.objectRef<AgentUpdatedShape>('AgentUpdated').implement({
  fields: (t) => ({ agent: t.field({ type: AgentRef, resolve: (r) => r.agent }) }),
});

type Tagged = { type: string };

const CreateAgentResult = builder.unionType('CreateAgentResult', {
  types: [AgentCreatedRef, ValidationErrorRef],
  resolveType: (v: Tagged) => v.type,
});

const UpdateAgentResult = builder.unionType('UpdateAgentResult', {
  types: [AgentUpdatedRef, AgentNotFoundRef, ValidationErrorRef],
  resolveType: (v: Tagged) => v.type,
});

/** Expected accounts failures become typed results; anything else (auth, infrastructure) stays an error. */
function mapAccountsError(err: unknown): ValidationErrorShape | AgentNotFoundShape {
  if (err instanceof AccountsError) {
    if (err.code === 'INVALID_INPUT' || err.code === 'HANDLE_TAKEN') return validationError(err.field ?? 'input', err.message);
    if (err.code === 'AGENT_NOT_FOUND') return { type: 'AgentNotFound', message: err.message };
    throw new GraphQLError(err.message, { extensions: { code: 'FORBIDDEN' } });
  }
  throw err;
}

function agentRefOf(text: string): AccountsAgentRef {
  return text.startsWith('ag_') ? { id: text } : { handle: text };
}

const CreateAgentInput = builder.inputType('CreateAgentInput', {
  fields: (t) => ({
    handle: t.string({ description: 'Public handle: 1-40 of a-z, 0-9, -.' }),
    credit: t.field({ type: MoneyInput, required: false }),
    policy: t.field({ type: 'JSON', required: false, description: 'Agent policy (caps, pin, byTaskType); omit for the default.' }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({
    type: AgentRef,
    description: 'The calling agent (needs its API key): balance and policy.',
    resolve: async (_r, _a, ctx) => {
      const self = requireAgent(ctx);
      return (await ctx.loaders.agent.load(self.id)) ?? self;
    },
  }),
  agents: t.field({
    type: [AgentRef],
    description: 'Admin: every agent.',
    resolve: async (_r, _a, ctx) => ctx.deps.accounts.listAgents(requireAdmin(ctx)),
  }),
}));

builder.mutationFields((t) => ({
  createAgent: t.field({
    type: CreateAgentResult,
    description: 'Admin: create an agent. The API key is in the result, once.',
    args: { input: t.arg({ type: CreateAgentInput }) },
    resolve: async (_r, { input }, ctx) => {
      const token = requireAdmin(ctx);
      let creditMicros = 0;
      if (input.credit) {
        const m = moneyFromInput(input.credit, 'input.credit');
        if (typeof m !== 'number') return m;
        creditMicros = m;
      }
      try {
        const { agent, apiKey } = await ctx.deps.accounts.createAgent(token, {
          handle: input.handle,
          creditMicros,
          policy: input.policy ?? undefined,
        });
        return { type: 'AgentCreated' as const, agent, apiKey };
      } catch (err) {
        const mapped = mapAccountsError(err);
        if (mapped.type === 'ValidationError' && !mapped.field.startsWith('input.')) mapped.field = `input.${mapped.field}`;
        return mapped as ValidationErrorShape;
      }
    },
  }),
  addCredit: t.field({
    type: UpdateAgentResult,
    description: 'Admin: add credit to an agent (by handle or id).',
    args: { agent: t.arg.string(), amount: t.arg({ type: MoneyInput }) },
    resolve: async (_r, args, ctx) => {
      const token = requireAdmin(ctx);
      const m = moneyFromInput(args.amount, 'amount');
      if (typeof m !== 'number') return m;
      if (m <= 0) return validationError('amount', 'must be more than 0');
      try {
        return { type: 'AgentUpdated' as const, agent: await ctx.deps.accounts.credit(token, agentRefOf(args.agent), m) };
      } catch (err) {
        return mapAccountsError(err);
      }
    },
  }),
  setPolicy: t.field({
    type: UpdateAgentResult,
    description: "Admin: replace an agent's policy (or one task type's layer); null resets to the default.",
    args: {
      agent: t.arg.string(),
      policy: t.arg({ type: 'JSON', required: false }),
      taskType: t.arg({ type: TaskTypeEnum, required: false }),
    },
    resolve: async (_r, args, ctx) => {
      const token = requireAdmin(ctx);
      try {
        const agent = await ctx.deps.accounts.setPolicy(token, agentRefOf(args.agent), args.policy ?? null, args.taskType ? { taskType: args.taskType } : undefined);
        return { type: 'AgentUpdated' as const, agent };
      } catch (err) {
        return mapAccountsError(err);
      }
    },
  }),
}));
