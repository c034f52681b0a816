// Scalars, money and the enums shared by several domains.
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type { PriceSource } from '../../catalog/types.js';
import type { BreakerState, TaskType } from '../../routing/types.js';
import { TASK_TYPES } from '../../routing/types.js';
import { builder } from '../builder.js';
import { formatUsd, parseUsd } from '../money.js';

function safeInt(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new GraphQLError(`SafeInt cannot represent ${JSON.stringify(value)}: it must be an integer within ±(2^53-1)`);
  }
  return value;
}

builder.scalarType('SafeInt', {
  description: 'An integer within ±(2^53-1), sent as a JSON number: micro-USD amounts, chain seqs, tree sizes.',
  serialize: safeInt,
  parseValue: safeInt,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT) throw new GraphQLError('SafeInt must be an integer literal');
    return safeInt(Number(ast.value));
  },
});

builder.scalarType('DateTime', {
  description: 'RFC 3339 UTC timestamp, e.g. 2026-11-24T13:12:10.123Z.',
  serialize: (v) => {
    const d = v instanceof Date ? v : new Date(v as string | number);
    if (Number.isNaN(d.getTime())) throw new GraphQLError(`DateTime cannot represent ${JSON.stringify(v)}`);
    return d.toISOString();
  },
  parseValue: (v) => parseDateTime(v),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

function parseDateTime(v: unknown): string {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new GraphQLError(`DateTime must be an RFC 3339 timestamp, got ${JSON.stringify(v)}`);
  }
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new GraphQLError(`DateTime ${JSON.stringify(v)} is not a real time`);
  return d.toISOString();
}

function literalToJson(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return ast.value;
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
  }
}

builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast, variables) => literalToJson(ast, variables),
});

/** An amount of money: exact integer micro-USD, and the same as a decimal USD string. */
export const MoneyRef = builder.objectRef<number>('Money').implement({
  description: 'Money: integer micro-USD (1 USD = 1,000,000) and the exact same amount as a USD decimal string.',
  fields: (t) => ({
    micros: t.field({ type: 'SafeInt', resolve: (m) => m }),
    usd: t.string({ description: 'Exact decimal, 6 places, e.g. "0.001250".', resolve: (m) => formatUsd(m) }),
  }),
});

const upper = (s: string) => s.toUpperCase();

export const TaskTypeEnum = builder.enumType('TaskType', {
  values: Object.fromEntries(TASK_TYPES.map((t) => [upper(t), { value: t }])) as Record<string, { value: TaskType }>,
});

export const CAPABILITIES = ['tools', 'vision', 'json_schema', 'json_mode', 'reasoning', 'code'] as const;
export const CapabilityEnum = builder.enumType('Capability', {
  values: Object.fromEntries(CAPABILITIES.map((c) => [upper(c), { value: c }])) as Record<
    string,
    { value: (typeof CAPABILITIES)[number] }
  >,
});

export const BreakerStateEnum = builder.enumType('BreakerState', {
  description: 'Availability breaker of one (provider, model): CLOSED is healthy.',
  values: {
    CLOSED: { value: 'closed' as BreakerState },
    OPEN: { value: 'open' as BreakerState },
    HALF_OPEN: { value: 'half_open' as BreakerState },
  },
});

export const PriceSourceEnum = builder.enumType('PriceSource', {
  values: {
    MODELS_ENDPOINT: { value: 'models-endpoint' as PriceSource, description: "Live, from the provider's /models list." },
    CONFIG: { value: 'config' as PriceSource, description: "The operator's configuration." },
    REFERENCE: { value: 'reference' as PriceSource, description: "The catalog's default list price." },
  },
});

export interface PriceShape {
  inputPerMTokMicros: number;
  outputPerMTokMicros: number;
  source: PriceSource;
  readAt: number;
  origin?: string;
}

export const PriceRef = builder.objectRef<PriceShape>('Price').implement({
  description: 'Price per million tokens, with where and when it was read.',
  fields: (t) => ({
    inputPerMTok: t.field({ type: MoneyRef, resolve: (p) => p.inputPerMTokMicros }),
    outputPerMTok: t.field({ type: MoneyRef, resolve: (p) => p.outputPerMTokMicros }),
    source: t.field({ type: PriceSourceEnum, resolve: (p) => p.source }),
    readAt: t.field({ type: 'DateTime', resolve: (p) => p.readAt }),
    origin: t.string({ nullable: true, resolve: (p) => p.origin ?? null }),
  }),
});

/** A typed input problem naming the field; nothing was changed. Member of every mutation's result union. */
export interface ValidationErrorShape {
  type: 'ValidationError';
  field: string;
  message: string;
}

export function validationError(field: string, message: string): ValidationErrorShape {
  return { type: 'ValidationError', field, message };
}

export const ValidationErrorRef = builder.objectRef<ValidationErrorShape>('ValidationError').implement({
  description: 'Bad input: names the field; nothing was changed (no chain entry, no decision, no money moved).',
  fields: (t) => ({
    field: t.string({ description: 'Path of the offending field, e.g. `input.messages.2.content`.', resolve: (v) => v.field }),
    message: t.exposeString('message'),
  }),
});

export const MoneyInput = builder.inputType('MoneyInput', {
  description: 'An amount: either `usd` (exact decimal string, up to 6 places) or `micros` (integer micro-USD). If both, they must agree.',
  fields: (t) => ({
    usd: t.string({ required: false }),
    micros: t.field({ type: 'SafeInt', required: false }),
  }),
});

/** Micro-USD from a MoneyInput, or a ValidationError naming the field. */
export function moneyFromInput(
  v: { usd?: string | null; micros?: number | null },
  field: string,
): number | ValidationErrorShape {
  let fromUsd: number | null = null;
  if (v.usd != null) {
    fromUsd = parseUsd(v.usd);
    if (fromUsd === null) return validationError(`${field}.usd`, 'must be a non-negative decimal string with at most 6 places, e.g. "0.05"');
  }
  if (v.micros != null && v.micros < 0) return validationError(`${field}.micros`, 'must be >= 0');
  if (fromUsd !== null && v.micros != null && fromUsd !== v.micros) {
    return validationError(field, `usd (${v.usd}) and micros (${v.micros}) disagree`);
  }
  const micros = fromUsd ?? v.micros;
  if (micros == null) return validationError(field, 'give usd or micros');
  return micros;
}
