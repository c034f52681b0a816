// Decisions: the explainable record of each routed call (private to the calling agent and the admin),
// the Relay connection over them, and analyst aggregates.
import { GraphQLError } from 'graphql';
import { decodeCandidates } from '../../gateway/decision-codec.js';
import type { AttemptView, DecisionView } from '../../gateway/types.js';
import type { Usage } from '../../providers/types.js';
import type { Classification, Refusal, ScoredCandidate } from '../../routing/types.js';
import type { DecisionFilter, DecisionOutcome, DecisionRecord } from '../../store/port.js';
import { builder } from '../builder.js';
import { canSeeAgentsPrivate, type ApiContext } from '../context.js';
import { AgentRef } from './accounts.js';
import { ChainEntryRef } from './chain.js';
import { BreakerStateEnum, CapabilityEnum, MoneyRef, PriceRef, TaskTypeEnum } from './common.js';

export const MAX_DECISIONS_PAGE = 100;

/** Decoded views by stored detail object: a Decision's classification, candidates and attempts decode once. */
const decoded = new WeakMap<object, Partial<DecisionView>>();

/**
 * The decision's explainable detail, whatever envelope the gateway stored it in, with the candidates
 * decoded from their compact stored form (src/gateway/decision-codec.ts). The one API reader of it.
 */
export function decisionDetail(d: DecisionRecord): Partial<DecisionView> {
  const det = d.detail as Record<string, unknown> | null | undefined;
  if (!det || typeof det !== 'object') return {};
  const hit = decoded.get(det);
  if (hit) return hit;
  const view = withCandidates(rawDetail(det));
  decoded.set(det, view);
  return view;
}

function rawDetail(det: Record<string, unknown>): Record<string, unknown> {
  const inner = det.decision;
  if (inner && typeof inner === 'object' && ('candidates' in inner || 'attempts' in inner)) return inner as Record<string, unknown>;
  const view = det.view;
  if (view && typeof view === 'object') return view as Record<string, unknown>;
  return det;
}

function withCandidates(view: Record<string, unknown>): Partial<DecisionView> {
  if (!('candidates' in view) || Array.isArray(view.candidates)) return view as Partial<DecisionView>;
  const candidates = decodeCandidates(view.candidates);
  return { ...(view as Partial<DecisionView>), candidates: candidates ?? [] };
}

export const UsageRef = builder.objectRef<Usage>('Usage').implement({
  fields: (t) => ({
    inputTokens: t.exposeInt('inputTokens'),
    outputTokens: t.exposeInt('outputTokens'),
  }),
});

const RefusalKindEnum = builder.enumType('RefusalKind', {
  values: {
    LACKS_CAPABILITY: { value: 'lacks_capability' as const },
    CONTEXT_TOO_SMALL: { value: 'context_too_small' as const },
    PINNED_OUT: { value: 'pinned_out' as const },
    BREAKER_OPEN: { value: 'breaker_open' as const },
    OVER_COST_CAP: { value: 'over_cost_cap' as const },
    OVER_LATENCY_TARGET: { value: 'over_latency_target' as const },
    BELOW_BAR: { value: 'below_bar' as const },
    EXCLUDED: { value: 'excluded' as const },
  },
});

const RefusalRef = builder.objectRef<Refusal>('Refusal').implement({
  description: 'Why a candidate was not eligible.',
  fields: (t) => ({
    kind: t.field({ type: RefusalKindEnum, resolve: (r) => r.kind }),
    message: t.exposeString('message'),
    detail: t.field({
      type: 'JSON',
      description: 'The numbers behind it (e.g. byMicros, predictedMs, targetMs, capability).',
      resolve: (r) => {
        const { kind: _k, message: _m, ...rest } = r;
        return rest;
      },
    }),
  }),
});

export const CandidateRef = builder.objectRef<ScoredCandidate>('Candidate').implement({
  description: 'One scored (model, provider) candidate of a decision.',
  fields: (t) => ({
    model: t.string({ resolve: (c) => c.modelId }),
    provider: t.string({ resolve: (c) => c.providerId }),
    upstreamModel: t.exposeString('upstreamModel'),
    eligible: t.exposeBoolean('eligible'),
    rank: t.int({ description: '1-based position in the attempt order; 0 when not eligible.', resolve: (c) => c.rank }),
    explored: t.exposeBoolean('explored'),
    finishProbability: t.exposeFloat('finishProbability'),
    outcomeEvidence: t.exposeFloat('outcomeEvidence'),
    expectedCost: t.field({ type: MoneyRef, resolve: (c) => c.expectedCostMicros }),
    worstCaseCost: t.field({ type: MoneyRef, resolve: (c) => c.worstCaseCostMicros }),
    predictedLatencyMs: t.exposeFloat('predictedLatencyMs'),
    predictedTtftMs: t.exposeFloat('predictedTtftMs'),
    latencySource: t.exposeString('latencySource'),
    price: t.field({ type: PriceRef, resolve: (c) => c.price }),
    breaker: t.field({ type: BreakerStateEnum, resolve: (c) => c.breaker }),
    refusals: t.field({ type: [RefusalRef], resolve: (c) => c.refusals }),
  }),
});

export const AttemptRef = builder.objectRef<AttemptView>('Attempt').implement({
  description: 'One provider attempt (never prompt or completion text).',
  fields: (t) => ({
    n: t.exposeInt('n'),
    model: t.exposeString('model'),
    provider: t.exposeString('provider'),
    ok: t.exposeBoolean('ok'),
    errorClass: t.string({ nullable: true, description: 'rate_limited, overloaded, timeout_*, refusal, ... (null when ok).', resolve: (a) => a.errorClass }),
    errorDetail: t.string({ nullable: true, resolve: (a) => a.errorDetail }),
    status: t.int({ nullable: true, resolve: (a) => a.status }),
    message: t.string({ nullable: true, resolve: (a) => a.message }),
    latencyMs: t.exposeFloat('latencyMs'),
    ttftMs: t.float({ nullable: true, resolve: (a) => a.ttftMs }),
    usage: t.field({ type: UsageRef, nullable: true, resolve: (a) => a.usage }),
    cost: t.field({ type: MoneyRef, resolve: (a) => a.costMicros }),
  }),
});

const ClassificationRef = builder.objectRef<Classification>('Classification').implement({
  fields: (t) => ({
    taskType: t.field({ type: TaskTypeEnum, resolve: (c) => c.taskType }),
    stated: t.boolean({ description: 'True when the caller stated the task type.', resolve: (c) => c.stated }),
    features: t.stringList({ description: 'The request features that decided.', resolve: (c) => c.features }),
    requires: t.field({ type: [CapabilityEnum], resolve: (c) => c.requires }),
  }),
});

export const DecisionOutcomeEnum = builder.enumType('DecisionOutcome', {
  values: {
    PENDING: { value: 'pending' as DecisionOutcome },
    COMPLETED: { value: 'completed' as DecisionOutcome },
    FAILED: { value: 'failed' as DecisionOutcome },
    REJECTED: { value: 'rejected' as DecisionOutcome },
  },
});

const FeedbackRef = builder.objectRef<NonNullable<DecisionRecord['feedback']>>('Feedback').implement({
  fields: (t) => ({
    success: t.exposeBoolean('success'),
    reason: t.string({ nullable: true, resolve: (f) => f.reason }),
    at: t.field({ type: 'DateTime', resolve: (f) => f.at }),
  }),
});

export const DecisionRef = builder.objectRef<DecisionRecord>('Decision').implement({
  description: 'One routed call, explained. Visible to the agent that made it and to the admin.',
  fields: (t) => ({
    id: t.exposeString('id'),
    agent: t.field({
      type: AgentRef,
      resolve: async (d, _a, ctx) => {
        const agent = await ctx.loaders.agent.load(d.agentId);
        if (!agent) throw new GraphQLError(`agent ${d.agentId} of decision ${d.id} is missing`);
        return agent;
      },
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    taskType: t.string({ description: 'Task type (see the TaskType enum values, lowercase).', resolve: (d) => d.taskType }),
    model: t.string({ nullable: true, description: 'Model that answered.', resolve: (d) => d.model }),
    provider: t.string({ nullable: true, resolve: (d) => d.provider }),
    outcome: t.field({ type: DecisionOutcomeEnum, resolve: (d) => d.outcome }),
    hold: t.field({ type: MoneyRef, description: 'Worst-case amount held before calling a provider.', resolve: (d) => d.holdMicros }),
    cost: t.field({ type: MoneyRef, description: 'Amount charged.', resolve: (d) => d.costMicros }),
    latencyMs: t.float({ nullable: true, resolve: (d) => d.latencyMs }),
    idempotencyKey: t.string({ nullable: true, resolve: (d) => d.idempotencyKey }),
    classification: t.field({ type: ClassificationRef, nullable: true, resolve: (d) => decisionDetail(d).classification ?? null }),
    candidates: t.field({ type: [CandidateRef], description: 'Every scored candidate.', resolve: (d) => decisionDetail(d).candidates ?? [] }),
    attempts: t.field({ type: [AttemptRef], description: 'Every provider attempt.', resolve: (d) => decisionDetail(d).attempts ?? [] }),
    feedback: t.field({ type: FeedbackRef, nullable: true, resolve: (d) => d.feedback }),
    requestSalt: t.string({
      nullable: true,
      description:
        "Hex of the 32-byte salt of this decision's public `request` chain entry: requestCommitment = HMAC-SHA256(key = salt, RFC 8785 bytes of the normalized request). With its own request and this salt the owner can prove which request the decision answered (docs/chain-format.md); without the salt nobody can test a guessed prompt against the chain. Only the owning agent and the admin see it (null for anyone else, and for decisions written before commitments were salted).",
      resolve: (d, _a, ctx) => {
        if (!canSeeAgentsPrivate(ctx, d.agentId)) return null;
        const salt = (d.detail as { requestSalt?: unknown } | null | undefined)?.requestSalt;
        return typeof salt === 'string' ? salt : null;
      },
    }),
    chainSeqs: t.field({ type: ['SafeInt'], resolve: (d) => d.chainSeqs }),
    chainEntries: t.field({
      type: [ChainEntryRef],
      description: 'The chain entries this decision wrote, in order.',
      resolve: async (d, _a, ctx) => {
        const got = await ctx.loaders.entry.loadMany(d.chainSeqs);
        return got.filter((e): e is Exclude<typeof e, Error | null> => e !== null && !(e instanceof Error));
      },
    }),
  }),
});

const DecisionFilterInput = builder.inputType('DecisionFilter', {
  fields: (t) => ({
    agent: t.string({ required: false, description: 'Agent handle (admin only; an agent always sees only its own).' }),
    model: t.string({ required: false }),
    provider: t.string({ required: false }),
    taskType: t.field({ type: TaskTypeEnum, required: false }),
    outcome: t.field({ type: DecisionOutcomeEnum, required: false }),
    since: t.field({ type: 'DateTime', required: false, description: 'Inclusive.' }),
    until: t.field({ type: 'DateTime', required: false, description: 'Exclusive.' }),
  }),
});

type FilterArg = {
  agent?: string | null;
  model?: string | null;
  provider?: string | null;
  taskType?: string | null;
  outcome?: DecisionOutcome | null;
  since?: string | null;
  until?: string | null;
};

/** Store filter scoped to what the caller may see; null when the result is empty by construction. */
async function scopedFilter(ctx: ApiContext, f: FilterArg | null | undefined): Promise<DecisionFilter | null> {
  const filter: DecisionFilter = {};
  if (f?.model != null) filter.model = f.model;
  if (f?.provider != null) filter.provider = f.provider;
  if (f?.taskType != null) filter.taskType = f.taskType;
  if (f?.outcome != null) filter.outcome = f.outcome;
  if (f?.since != null) filter.since = f.since;
  if (f?.until != null) filter.until = f.until;
  if (ctx.isAdmin) {
    if (f?.agent != null) {
      const a = await ctx.deps.store.accounts.agentByHandle(f.agent);
      if (!a) return null;
      ctx.loaders.agent.prime(a.id, a);
      filter.agentId = a.id;
    }
    return filter;
  }
  if (!ctx.agent) {
    throw new GraphQLError('decisions are private: use an agent API key or the admin token', { extensions: { code: 'UNAUTHENTICATED' } });
  }
  if (f?.agent != null && f.agent !== ctx.agent.handle) {
    throw new GraphQLError("an agent can only read its own decisions", { extensions: { code: 'FORBIDDEN', field: 'filter.agent' } });
  }
  filter.agentId = ctx.agent.id;
  return filter;
}

const CURSOR_PREFIX = 'decision:';
export function encodeCursor(id: string): string {
  return Buffer.from(CURSOR_PREFIX + id, 'utf8').toString('base64url');
}
export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(CURSOR_PREFIX) || text.length === CURSOR_PREFIX.length) {
    throw new GraphQLError('after: not a cursor from this connection', { extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
  }
  return text.slice(CURSOR_PREFIX.length);
}

builder.queryFields((t) => ({
  decision: t.field({
    type: DecisionRef,
    nullable: true,
    description: 'Null when it does not exist or belongs to another agent.',
    args: { id: t.arg.string() },
    resolve: async (_r, { id }, ctx) => {
      if (!ctx.agent && !ctx.isAdmin) {
        throw new GraphQLError('decisions are private: use an agent API key or the admin token', { extensions: { code: 'UNAUTHENTICATED' } });
      }
      const d = await ctx.loaders.decision.load(id);
      return d && canSeeAgentsPrivate(ctx, d.agentId) ? d : null;
    },
  }),
  decisions: t.connection({
    type: DecisionRef,
    description: `Newest first. Forward pagination only (first <= ${MAX_DECISIONS_PAGE}, after).`,
    args: { filter: t.arg({ type: DecisionFilterInput, required: false }) },
    resolve: async (_r, args, ctx) => {
      if (args.last != null || args.before != null) {
        throw new GraphQLError('decisions paginate forward only (first/after)', { extensions: { code: 'BAD_USER_INPUT', field: 'last' } });
      }
      const first = args.first ?? 20;
      if (first < 1 || first > MAX_DECISIONS_PAGE) {
        throw new GraphQLError(`first must be 1..${MAX_DECISIONS_PAGE}`, { extensions: { code: 'BAD_USER_INPUT', field: 'first' } });
      }
      const after = args.after != null ? decodeCursor(args.after) : undefined;
      const filter = await scopedFilter(ctx, args.filter);
      const page = filter ? await ctx.deps.store.decisions.list(filter, first, after) : { items: [], hasNextPage: false };
      for (const d of page.items) ctx.loaders.decision.prime(d.id, d);
      const edges = page.items.map((d) => ({ cursor: encodeCursor(d.id), node: d }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges[edges.length - 1]?.cursor ?? null,
        },
      };
    },
  }, { name: 'DecisionConnection' }, { name: 'DecisionEdge' }),
}));

// ---------------------------------------------------------------------------------------------
// Analyst aggregates

export const MAX_STATS_SCAN = 50_000;

interface StatsRow {
  model: string | null;
  taskType: string;
  calls: number;
  completed: number;
  failed: number;
  rejected: number;
  feedbackCount: number;
  feedbackSuccesses: number;
  spendMicros: number;
  latencies: number[];
}

interface StatsReport {
  since: string | null;
  until: string | null;
  scanned: number;
  truncated: boolean;
  rows: StatsRow[];
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

const StatsRowRef = builder.objectRef<StatsRow>('DecisionStats').implement({
  description: 'Aggregates of one (model, task type) over a time range.',
  fields: (t) => ({
    model: t.string({ nullable: true, description: 'Null for calls no model answered (refused or all attempts failed).', resolve: (r) => r.model }),
    taskType: t.exposeString('taskType'),
    calls: t.exposeInt('calls'),
    completed: t.exposeInt('completed'),
    failed: t.exposeInt('failed'),
    rejected: t.exposeInt('rejected'),
    finishRate: t.float({
      nullable: true,
      description: 'completed / (completed + failed); caller feedback marked unsuccessful counts as not finished.',
      resolve: (r) => {
        const n = r.completed + r.failed;
        if (n === 0) return null;
        const unsuccessful = r.feedbackCount - r.feedbackSuccesses;
        return (r.completed - unsuccessful) / n;
      },
    }),
    feedbackCount: t.exposeInt('feedbackCount'),
    feedbackSuccessRate: t.float({ nullable: true, resolve: (r) => (r.feedbackCount ? r.feedbackSuccesses / r.feedbackCount : null) }),
    spend: t.field({ type: MoneyRef, resolve: (r) => r.spendMicros }),
    latencyP50Ms: t.float({ nullable: true, resolve: (r) => percentile(r.latencies, 50) }),
    latencyP95Ms: t.float({ nullable: true, resolve: (r) => percentile(r.latencies, 95) }),
    latencyP99Ms: t.float({ nullable: true, resolve: (r) => percentile(r.latencies, 99) }),
  }),
});

const StatsReportRef = builder.objectRef<StatsReport>('DecisionStatsReport').implement({
  fields: (t) => ({
    since: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.since }),
    until: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.until }),
    decisionsScanned: t.int({ resolve: (r) => r.scanned }),
    truncated: t.boolean({ description: `True when the range held more than ${MAX_STATS_SCAN} decisions (only the newest were counted).`, resolve: (r) => r.truncated }),
    rows: t.field({ type: [StatsRowRef], resolve: (r) => r.rows }),
  }),
});

builder.queryField('decisionStats', (t) =>
  t.field({
    type: StatsReportRef,
    description: 'Per model and task type over a time range: calls, finish rate, spend, latency percentiles. An agent sees its own calls; the admin sees all.',
    args: { filter: t.arg({ type: DecisionFilterInput, required: false }) },
    resolve: async (_r, args, ctx) => {
      const filter = await scopedFilter(ctx, args.filter);
      const rows = new Map<string, StatsRow>();
      let scanned = 0;
      let truncated = false;
      let after: string | undefined;
      while (filter) {
        const page = await ctx.deps.store.decisions.list(filter, 500, after);
        for (const d of page.items) {
          scanned++;
          const key = `${d.model ?? ''}\u0000${d.taskType}`;
          let row = rows.get(key);
          if (!row) {
            row = { model: d.model, taskType: d.taskType, calls: 0, completed: 0, failed: 0, rejected: 0, feedbackCount: 0, feedbackSuccesses: 0, spendMicros: 0, latencies: [] };
            rows.set(key, row);
          }
          row.calls++;
          if (d.outcome === 'completed') row.completed++;
          else if (d.outcome === 'failed') row.failed++;
          else if (d.outcome === 'rejected') row.rejected++;
          if (d.feedback) {
            row.feedbackCount++;
            if (d.feedback.success) row.feedbackSuccesses++;
          }
          row.spendMicros += d.costMicros;
          if (d.outcome === 'completed' && d.latencyMs !== null) row.latencies.push(d.latencyMs);
        }
        const last = page.items[page.items.length - 1];
        if (!page.hasNextPage || !last) break;
        if (scanned >= MAX_STATS_SCAN) {
          truncated = true;
          break;
        }
        after = last.id;
      }
      for (const r of rows.values()) r.latencies.sort((a, b) => a - b);
      const sorted = [...rows.values()].sort((a, b) => (a.model ?? '~').localeCompare(b.model ?? '~') || a.taskType.localeCompare(b.taskType));
      return { since: args.filter?.since ?? null, until: args.filter?.until ?? null, scanned, truncated, rows: sorted };
    },
  }),
);
