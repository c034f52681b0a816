// The catalog with live signals: reference speed and index, measured latency, live prices with their
// source, breaker state, and outcome estimates per task type. Public (no prompt, no agent data).
import type { BreakerSnapshot } from '../../routing/types.js';
import { builder } from '../builder.js';
import type { LatencySnapshot, ModelSnapshot, OfferingSnapshot, ProviderSnapshot, TaskOutcomeSnapshot } from '../ports.js';
import { BreakerStateEnum, CapabilityEnum, PriceRef, TaskTypeEnum } from './common.js';

const BreakerRef = builder.objectRef<BreakerSnapshot>('Breaker').implement({
  fields: (t) => ({
    state: t.field({ type: BreakerStateEnum, resolve: (b) => b.state }),
    until: t.field({ type: 'DateTime', nullable: true, description: 'When OPEN: when it turns half-open.', resolve: (b) => b.until }),
    consecutiveFailures: t.exposeInt('consecutiveFailures'),
  }),
});

const LatencySourceEnum = builder.enumType('LatencySource', {
  values: { MEASURED: { value: 'measured' as const }, REFERENCE: { value: 'reference' as const } },
});

const LatencyRef = builder.objectRef<LatencySnapshot>('LatencyStats').implement({
  description: 'Measured on our own calls (rolling window); REFERENCE until enough samples exist.',
  fields: (t) => ({
    p50Ms: t.float({ nullable: true, resolve: (l) => l.p50Ms }),
    p95Ms: t.float({ nullable: true, resolve: (l) => l.p95Ms }),
    ttftP50Ms: t.float({ nullable: true, resolve: (l) => l.ttftP50Ms }),
    ttftP95Ms: t.float({ nullable: true, resolve: (l) => l.ttftP95Ms }),
    tokensPerSecond: t.float({ nullable: true, resolve: (l) => l.tokensPerSecond }),
    samples: t.exposeInt('samples'),
    source: t.field({ type: LatencySourceEnum, resolve: (l) => l.source }),
  }),
});

const ProviderRef = builder.objectRef<ProviderSnapshot>('Provider').implement({
  fields: (t) => ({
    id: t.exposeString('id'),
    simulated: t.boolean({ description: 'True for the loopback simulated fleet: its data is not real traffic.', resolve: (p) => p.simulated }),
    pricesFrom: t.string({ resolve: (p) => p.pricesFrom }),
    models: t.stringList({ resolve: (p) => p.models }),
    keyConfigured: t.exposeBoolean('keyConfigured'),
  }),
});

const OfferingRef = builder.objectRef<OfferingSnapshot>('Offering').implement({
  description: 'One provider serving one model.',
  fields: (t) => ({
    provider: t.string({ resolve: (o) => o.providerId }),
    upstreamModel: t.exposeString('upstreamModel'),
    simulated: t.exposeBoolean('simulated'),
    price: t.field({ type: PriceRef, resolve: (o) => o.price }),
    breaker: t.field({ type: BreakerRef, resolve: (o) => o.breaker }),
    latency: t.field({ type: LatencyRef, resolve: (o) => o.latency }),
  }),
});

const TaskOutcomeRef = builder.objectRef<TaskOutcomeSnapshot>('TaskOutcome').implement({
  fields: (t) => ({
    taskType: t.field({ type: TaskTypeEnum, resolve: (o) => o.taskType }),
    calls: t.exposeInt('calls'),
    successes: t.exposeInt('successes'),
    finishRate: t.float({
      description: 'Posterior finish probability the router uses (prior from the index, updated by outcomes).',
      resolve: (o) => o.finishProbability,
    }),
  }),
});

function bestOffering(m: ModelSnapshot): OfferingSnapshot | undefined {
  const rank = { closed: 0, half_open: 1, open: 2 } as const;
  return [...m.offerings].sort((a, b) => rank[a.breaker.state] - rank[b.breaker.state] || a.price.outputPerMTokMicros - b.price.outputPerMTokMicros)[0];
}

const ModelRef = builder.objectRef<ModelSnapshot>('Model').implement({
  fields: (t) => ({
    id: t.string({ resolve: (m) => m.info.id }),
    name: t.string({ resolve: (m) => m.info.name }),
    vendor: t.string({ resolve: (m) => m.info.vendor }),
    intelligenceIndex: t.float({ description: 'Reference intelligence index.', resolve: (m) => m.info.intelligenceIndex }),
    referenceTokensPerSecond: t.float({ description: 'Reference output speed.', resolve: (m) => m.info.outputTokensPerSecond }),
    contextWindow: t.int({ resolve: (m) => m.info.contextWindow }),
    maxOutputTokens: t.int({ resolve: (m) => m.info.maxOutputTokens }),
    capabilities: t.field({ type: [CapabilityEnum], resolve: (m) => [...m.info.capabilities] }),
    simulated: t.boolean({
      description: 'True when every provider serving it is the simulated fleet.',
      resolve: (m) => m.offerings.length > 0 && m.offerings.every((o) => o.simulated),
    }),
    offerings: t.field({ type: [OfferingRef], resolve: (m) => m.offerings }),
    health: t.field({
      type: BreakerStateEnum,
      description: 'The best breaker state among its offerings.',
      resolve: (m) => bestOffering(m)?.breaker.state ?? 'open',
    }),
    price: t.field({ type: PriceRef, nullable: true, description: 'Price of the healthiest, cheapest offering.', resolve: (m) => bestOffering(m)?.price ?? null }),
    latency: t.field({ type: LatencyRef, nullable: true, description: 'Latency of the healthiest, cheapest offering.', resolve: (m) => bestOffering(m)?.latency ?? null }),
    outcomes: t.field({ type: [TaskOutcomeRef], description: 'Calls and finish rate per task type.', resolve: (m) => m.outcomes }),
  }),
});

const ModelOrderEnum = builder.enumType('ModelOrder', {
  values: {
    INDEX: { description: 'Intelligence index, highest first.' },
    SPEED: { description: 'Live output speed (reference until measured), fastest first.' },
    PRICE: { description: 'Output price of the best offering, cheapest first.' },
  } as const,
});

const ModelFilterInput = builder.inputType('ModelFilter', {
  fields: (t) => ({
    capabilities: t.field({ type: [CapabilityEnum], required: false, description: 'Models having all of these.' }),
    vendor: t.string({ required: false }),
    provider: t.string({ required: false }),
    health: t.field({ type: BreakerStateEnum, required: false, description: 'Models with at least one offering in this state.' }),
    simulated: t.boolean({ required: false }),
  }),
});

function speedOf(m: ModelSnapshot): number {
  return bestOffering(m)?.latency.tokensPerSecond ?? m.info.outputTokensPerSecond;
}

builder.queryFields((t) => ({
  models: t.field({
    type: [ModelRef],
    args: {
      filter: t.arg({ type: ModelFilterInput, required: false }),
      orderBy: t.arg({ type: ModelOrderEnum, required: false, defaultValue: 'INDEX' }),
    },
    resolve: (_r, { filter, orderBy }, ctx) => {
      let list = ctx.deps.models.models(Date.now());
      if (filter) {
        const f = filter;
        list = list.filter(
          (m) =>
            (!f.capabilities || f.capabilities.every((c) => m.info.capabilities.includes(c))) &&
            (f.vendor == null || m.info.vendor.toLowerCase() === f.vendor.toLowerCase()) &&
            (f.provider == null || m.offerings.some((o) => o.providerId === f.provider)) &&
            (f.health == null || m.offerings.some((o) => o.breaker.state === f.health)) &&
            (f.simulated == null || (m.offerings.length > 0 && m.offerings.every((o) => o.simulated)) === f.simulated),
        );
      }
      const order = orderBy ?? 'INDEX';
      const sorted = [...list];
      if (order === 'INDEX') sorted.sort((a, b) => b.info.intelligenceIndex - a.info.intelligenceIndex || a.info.id.localeCompare(b.info.id));
      else if (order === 'SPEED') sorted.sort((a, b) => speedOf(b) - speedOf(a) || a.info.id.localeCompare(b.info.id));
      else {
        const price = (m: ModelSnapshot) => bestOffering(m)?.price.outputPerMTokMicros ?? Number.MAX_SAFE_INTEGER;
        sorted.sort((a, b) => price(a) - price(b) || a.info.id.localeCompare(b.info.id));
      }
      return sorted;
    },
  }),
  model: t.field({
    type: ModelRef,
    nullable: true,
    args: { id: t.arg.string() },
    resolve: (_r, { id }, ctx) => ctx.deps.models.models(Date.now()).find((m) => m.info.id === id) ?? null,
  }),
  providers: t.field({
    type: [ProviderRef],
    resolve: (_r, _a, ctx) => ctx.deps.models.providers(Date.now()),
  }),
}));
