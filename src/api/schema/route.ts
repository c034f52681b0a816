// The `route` mutation (one routed call: OpenAI chat shape in, the completion plus the full explained
// decision out) and `reportOutcome` (caller feedback that teaches the router).
import { GatewayError } from '../../gateway/types.js';
import type {
  ReportOutcomeResult,
  RouteAllAttemptsFailed,
  RouteCallResult,
  RouteInsufficientCredit,
  RouteNoEligibleModel,
  RouteSuccess,
} from '../../gateway/types.js';
import type { ToolCallResult } from '../../providers/types.js';
import type {
  Caps,
  ChatMessage,
  ContentPart,
  Pin,
  ResponseFormat,
  RouteRequest,
  TaskType,
  TextPart,
  ToolChoice,
  ToolDefinition,
} from '../../routing/types.js';
import type { StoredEntry } from '../../store/port.js';
import { builder } from '../builder.js';
import { requireAgent, type ApiContext } from '../context.js';
import { ChainEntryRef } from './chain.js';
import { MoneyInput, MoneyRef, TaskTypeEnum, ValidationErrorRef, moneyFromInput, validationError, type ValidationErrorShape } from './common.js';
import { AttemptRef, CandidateRef, DecisionRef, UsageRef } from './decisions.js';

// ---------------------------------------------------------------------------------------------
// Inputs

const MessageRoleEnum = builder.enumType('MessageRole', {
  values: { SYSTEM: { value: 'system' as const }, USER: { value: 'user' as const }, ASSISTANT: { value: 'assistant' as const }, TOOL: { value: 'tool' as const } },
});

const ContentPartTypeEnum = builder.enumType('ContentPartType', {
  values: { TEXT: { value: 'text' as const }, IMAGE_URL: { value: 'image_url' as const } },
});

const ImageDetailEnum = builder.enumType('ImageDetail', {
  values: { AUTO: { value: 'auto' as const }, LOW: { value: 'low' as const }, HIGH: { value: 'high' as const } },
});

const ContentPartInput = builder.inputType('ContentPartInput', {
  description: 'A text part (`text`) or an image part (`imageUrl`: https or data: URL).',
  fields: (t) => ({
    type: t.field({ type: ContentPartTypeEnum }),
    text: t.string({ required: false }),
    imageUrl: t.string({ required: false }),
    detail: t.field({ type: ImageDetailEnum, required: false }),
  }),
});

const ToolCallInput = builder.inputType('ToolCallInput', {
  description: 'A tool call the assistant made earlier in the conversation.',
  fields: (t) => ({
    id: t.string(),
    name: t.string(),
    arguments: t.string({ description: 'JSON text, as the model produced it.' }),
  }),
});

const MessageInput = builder.inputType('MessageInput', {
  description: 'One chat message (OpenAI format). Give `content` (text) or `parts` (text and image parts), not both.',
  fields: (t) => ({
    role: t.field({ type: MessageRoleEnum }),
    content: t.string({ required: false }),
    parts: t.field({ type: [ContentPartInput], required: false }),
    name: t.string({ required: false }),
    toolCalls: t.field({ type: [ToolCallInput], required: false, description: 'ASSISTANT only.' }),
    toolCallId: t.string({ required: false, description: 'TOOL only: the call this message answers.' }),
  }),
});

const ToolInput = builder.inputType('ToolInput', {
  description: 'A function tool the model may call.',
  fields: (t) => ({
    name: t.string(),
    description: t.string({ required: false }),
    parameters: t.field({ type: 'JSON', required: false, description: 'JSON Schema of the arguments.' }),
    strict: t.boolean({ required: false }),
  }),
});

const ToolChoiceModeEnum = builder.enumType('ToolChoiceMode', {
  values: { NONE: { value: 'none' as const }, AUTO: { value: 'auto' as const }, REQUIRED: { value: 'required' as const }, FUNCTION: { value: 'function' as const } },
});

const ToolChoiceInput = builder.inputType('ToolChoiceInput', {
  fields: (t) => ({
    mode: t.field({ type: ToolChoiceModeEnum }),
    functionName: t.string({ required: false, description: 'With mode FUNCTION.' }),
  }),
});

const ResponseFormatTypeEnum = builder.enumType('ResponseFormatType', {
  values: { TEXT: { value: 'text' as const }, JSON_OBJECT: { value: 'json_object' as const }, JSON_SCHEMA: { value: 'json_schema' as const } },
});

const JsonSchemaFormatInput = builder.inputType('JsonSchemaFormatInput', {
  fields: (t) => ({
    name: t.string(),
    description: t.string({ required: false }),
    schema: t.field({ type: 'JSON', required: false }),
    strict: t.boolean({ required: false }),
  }),
});

const ResponseFormatInput = builder.inputType('ResponseFormatInput', {
  fields: (t) => ({
    type: t.field({ type: ResponseFormatTypeEnum }),
    jsonSchema: t.field({ type: JsonSchemaFormatInput, required: false, description: 'With type JSON_SCHEMA.' }),
  }),
});

const CapsInput = builder.inputType('CapsInput', {
  description: 'Per-call limits; anything left out comes from the task-type, agent or default policy.',
  fields: (t) => ({
    costCeiling: t.field({ type: MoneyInput, required: false, description: 'Ceiling on the worst-case cost of this call.' }),
    latencyTargetMs: t.int({ required: false, description: 'Predicted total time must fit.' }),
    minFinishProbability: t.float({ required: false, description: 'The bar, 0..1.' }),
  }),
});

const PinInput = builder.inputType('PinInput', {
  fields: (t) => ({
    model: t.string({ required: false, description: 'Catalog model id.' }),
    provider: t.string({ required: false, description: 'Provider id.' }),
  }),
});

const RouteInput = builder.inputType('RouteInput', {
  fields: (t) => ({
    messages: t.field({ type: [MessageInput] }),
    tools: t.field({ type: [ToolInput], required: false }),
    toolChoice: t.field({ type: ToolChoiceInput, required: false }),
    responseFormat: t.field({ type: ResponseFormatInput, required: false }),
    maxOutputTokens: t.int({ required: false }),
    temperature: t.float({ required: false }),
    taskType: t.field({ type: TaskTypeEnum, required: false, description: 'State the task type instead of letting the router classify it.' }),
    caps: t.field({ type: CapsInput, required: false }),
    pin: t.field({ type: PinInput, required: false }),
    idempotencyKey: t.string({ required: false, description: 'A repeat with the same key returns the first result; no second provider call, no second charge.' }),
  }),
});

type RouteInputShape = typeof RouteInput.$inferInput;
type MessageInputShape = typeof MessageInput.$inferInput;

/** GraphQL input → the gateway's RouteRequest, or a ValidationError naming the field. */
export function toRouteRequest(input: RouteInputShape): RouteRequest | ValidationErrorShape {
  const messages: ChatMessage[] = [];
  for (const [i, m] of input.messages.entries()) {
    const msg = toMessage(m, `input.messages.${i}`);
    if ('type' in msg) return msg;
    messages.push(msg);
  }
  const req: RouteRequest = { messages };
  if (input.tools) {
    req.tools = input.tools.map(
      (tool): ToolDefinition => ({
        type: 'function',
        function: {
          name: tool.name,
          ...(tool.description != null ? { description: tool.description } : {}),
          ...(tool.parameters != null ? { parameters: tool.parameters as Record<string, unknown> } : {}),
          ...(tool.strict != null ? { strict: tool.strict } : {}),
        },
      }),
    );
    for (const [i, tool] of input.tools.entries()) {
      if (tool.parameters != null && (typeof tool.parameters !== 'object' || Array.isArray(tool.parameters))) {
        return validationError(`input.tools.${i}.parameters`, 'must be a JSON Schema object');
      }
    }
  }
  if (input.toolChoice) {
    const tc = input.toolChoice;
    let choice: ToolChoice;
    if (tc.mode === 'function') {
      if (!tc.functionName) return validationError('input.toolChoice.functionName', 'required with mode FUNCTION');
      choice = { type: 'function', function: { name: tc.functionName } };
    } else {
      if (tc.functionName != null) return validationError('input.toolChoice.functionName', 'only with mode FUNCTION');
      choice = tc.mode;
    }
    req.toolChoice = choice;
  }
  if (input.responseFormat) {
    const rf = input.responseFormat;
    let format: ResponseFormat;
    if (rf.type === 'json_schema') {
      if (!rf.jsonSchema) return validationError('input.responseFormat.jsonSchema', 'required with type JSON_SCHEMA');
      const js = rf.jsonSchema;
      if (js.schema != null && (typeof js.schema !== 'object' || Array.isArray(js.schema))) {
        return validationError('input.responseFormat.jsonSchema.schema', 'must be a JSON Schema object');
      }
      format = {
        type: 'json_schema',
        json_schema: {
          name: js.name,
          ...(js.description != null ? { description: js.description } : {}),
          ...(js.schema != null ? { schema: js.schema as Record<string, unknown> } : {}),
          ...(js.strict != null ? { strict: js.strict } : {}),
        },
      };
    } else {
      if (rf.jsonSchema != null) return validationError('input.responseFormat.jsonSchema', 'only with type JSON_SCHEMA');
      format = { type: rf.type };
    }
    req.responseFormat = format;
  }
  if (input.maxOutputTokens != null) req.maxOutputTokens = input.maxOutputTokens;
  if (input.temperature != null) req.temperature = input.temperature;
  if (input.taskType != null) req.taskType = input.taskType as TaskType;
  if (input.caps) {
    const caps: Caps = {};
    if (input.caps.costCeiling) {
      const m = moneyFromInput(input.caps.costCeiling, 'input.caps.costCeiling');
      if (typeof m !== 'number') return m;
      caps.costCeilingMicros = m;
    }
    if (input.caps.latencyTargetMs != null) caps.latencyTargetMs = input.caps.latencyTargetMs;
    if (input.caps.minFinishProbability != null) caps.minFinishProbability = input.caps.minFinishProbability;
    req.caps = caps;
  }
  if (input.pin) {
    const pin: Pin = {};
    if (input.pin.model != null) pin.model = input.pin.model;
    if (input.pin.provider != null) pin.provider = input.pin.provider;
    req.pin = pin;
  }
  return req;
}

function toMessage(m: MessageInputShape, at: string): ChatMessage | ValidationErrorShape {
  if (m.content != null && m.parts != null) return validationError(`${at}.parts`, 'give content or parts, not both');
  if (m.role !== 'assistant' && m.toolCalls != null) return validationError(`${at}.toolCalls`, 'only ASSISTANT messages carry tool calls');
  if (m.role !== 'tool' && m.toolCallId != null) return validationError(`${at}.toolCallId`, 'only TOOL messages carry toolCallId');
  let parts: ContentPart[] | undefined;
  if (m.parts != null) {
    parts = [];
    for (const [j, p] of m.parts.entries()) {
      const pat = `${at}.parts.${j}`;
      if (p.type === 'text') {
        if (p.text == null) return validationError(`${pat}.text`, 'required for a TEXT part');
        if (p.imageUrl != null) return validationError(`${pat}.imageUrl`, 'only for an IMAGE_URL part');
        parts.push({ type: 'text', text: p.text });
      } else {
        if (p.imageUrl == null) return validationError(`${pat}.imageUrl`, 'required for an IMAGE_URL part');
        if (p.text != null) return validationError(`${pat}.text`, 'only for a TEXT part');
        if (!/^(https?:|data:image\/)/i.test(p.imageUrl)) return validationError(`${pat}.imageUrl`, 'must be an http(s) URL or a data:image/ URL');
        parts.push({ type: 'image_url', image_url: { url: p.imageUrl, ...(p.detail != null ? { detail: p.detail } : {}) } });
      }
    }
  }
  const textOnly = (): string | TextPart[] | ValidationErrorShape => {
    if (parts) {
      const bad = parts.findIndex((p) => p.type !== 'text');
      if (bad >= 0) return validationError(`${at}.parts.${bad}`, `${m.role.toUpperCase()} messages take text parts only`);
      return parts as TextPart[];
    }
    if (m.content == null) return validationError(`${at}.content`, 'required');
    return m.content;
  };
  const name = m.name != null ? { name: m.name } : {};
  switch (m.role) {
    case 'system': {
      const content = textOnly();
      if (typeof content === 'object' && 'type' in content) return content;
      return { role: 'system', content, ...name };
    }
    case 'user': {
      const content = parts ?? m.content;
      if (content == null) return validationError(`${at}.content`, 'required');
      return { role: 'user', content, ...name };
    }
    case 'assistant': {
      let content: string | TextPart[] | null = m.content ?? null;
      if (parts) {
        const t = textOnly();
        if (typeof t === 'object' && 'type' in t) return t;
        content = t;
      }
      if (content === null && !m.toolCalls?.length) return validationError(`${at}.content`, 'an ASSISTANT message needs content or toolCalls');
      return {
        role: 'assistant',
        content,
        ...(m.toolCalls?.length
          ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
          : {}),
        ...name,
      };
    }
    case 'tool': {
      if (m.toolCallId == null) return validationError(`${at}.toolCallId`, 'required for a TOOL message');
      const content = textOnly();
      if (typeof content === 'object' && 'type' in content) return content;
      return { role: 'tool', content, tool_call_id: m.toolCallId };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Results

async function entriesOf(ctx: ApiContext, seqs: readonly number[]): Promise<StoredEntry[]> {
  const got = await ctx.loaders.entry.loadMany(seqs);
  return got.filter((e): e is StoredEntry => e !== null && !(e instanceof Error));
}

const ToolCallRef = builder.objectRef<ToolCallResult>('ToolCall').implement({
  fields: (t) => ({
    id: t.exposeString('id'),
    name: t.exposeString('name'),
    arguments: t.string({ description: 'JSON text.', resolve: (c) => c.arguments }),
  }),
});

const RouteSuccessRef = builder.objectRef<RouteSuccess>('RouteSuccess').implement({
  fields: (t) => ({
    completion: t.string({ description: 'The completion text (empty when the model only called tools).', resolve: (r) => r.content }),
    toolCalls: t.field({ type: [ToolCallRef], resolve: (r) => r.toolCalls }),
    finishReason: t.exposeString('finishReason'),
    usage: t.field({ type: UsageRef, resolve: (r) => r.usage }),
    cost: t.field({ type: MoneyRef, description: 'Charged: the answering attempt only.', resolve: (r) => r.costMicros }),
    hold: t.field({ type: MoneyRef, description: 'Worst case held before calling; the rest was refunded.', resolve: (r) => r.holdMicros }),
    balance: t.field({ type: MoneyRef, description: 'Balance after the refund.', resolve: (r) => r.balanceMicros }),
    latencyMs: t.exposeFloat('latencyMs'),
    model: t.string({ description: 'The model that actually answered.', resolve: (r) => r.model }),
    provider: t.exposeString('provider'),
    simulated: t.boolean({ description: 'True when the simulated fleet answered.', resolve: (r) => r.simulated }),
    replayed: t.boolean({ description: 'True when returned from an earlier call with the same idempotency key.', resolve: (r) => r.replayed }),
    taskType: t.field({ type: TaskTypeEnum, resolve: (r) => r.decision.taskType }),
    candidates: t.field({ type: [CandidateRef], description: 'Every scored candidate.', resolve: (r) => r.decision.candidates }),
    attempts: t.field({ type: [AttemptRef], resolve: (r) => r.decision.attempts }),
    decisionId: t.exposeString('decisionId'),
    decision: t.field({ type: DecisionRef, nullable: true, resolve: (r, _a, ctx) => ctx.loaders.decision.load(r.decisionId) }),
    chainSeqs: t.field({ type: ['SafeInt'], resolve: (r) => r.chainSeqs }),
    chainEntries: t.field({ type: [ChainEntryRef], resolve: (r, _a, ctx) => entriesOf(ctx, r.chainSeqs) }),
  }),
});

const NoEligibleModelRef = builder.objectRef<RouteNoEligibleModel>('NoEligibleModel').implement({
  description: 'No candidate fits: every candidate with every reason it was refused. Nothing was charged.',
  fields: (t) => ({
    message: t.exposeString('message'),
    taskType: t.field({ type: TaskTypeEnum, resolve: (r) => r.taskType }),
    candidates: t.field({ type: [CandidateRef], resolve: (r) => r.candidates }),
    decisionId: t.exposeString('decisionId'),
    decision: t.field({ type: DecisionRef, nullable: true, resolve: (r, _a, ctx) => ctx.loaders.decision.load(r.decisionId) }),
    chainSeqs: t.field({ type: ['SafeInt'], resolve: (r) => r.chainSeqs }),
    chainEntries: t.field({ type: [ChainEntryRef], resolve: (r, _a, ctx) => entriesOf(ctx, r.chainSeqs) }),
  }),
});

const InsufficientCreditRef = builder.objectRef<RouteInsufficientCredit>('InsufficientCredit').implement({
  description: 'The worst-case hold exceeds the balance; no provider was called.',
  fields: (t) => ({
    message: t.exposeString('message'),
    required: t.field({ type: MoneyRef, resolve: (r) => r.requiredMicros }),
    balance: t.field({ type: MoneyRef, resolve: (r) => r.balanceMicros }),
    decisionId: t.exposeString('decisionId'),
    chainSeqs: t.field({ type: ['SafeInt'], resolve: (r) => r.chainSeqs }),
    chainEntries: t.field({ type: [ChainEntryRef], resolve: (r, _a, ctx) => entriesOf(ctx, r.chainSeqs) }),
  }),
});

const AllAttemptsFailedRef = builder.objectRef<RouteAllAttemptsFailed>('AllAttemptsFailed').implement({
  description:
    'Every attempt failed (each with its error class). Failed attempts are not billed; an attempt the caller abandoned after the request reached the provider is (its partial usage, at most the hold).',
  fields: (t) => ({
    message: t.exposeString('message'),
    aborted: t.boolean({ description: 'True when the caller went away.', resolve: (r) => r.aborted }),
    attempts: t.field({ type: [AttemptRef], resolve: (r) => r.attempts }),
    candidates: t.field({ type: [CandidateRef], resolve: (r) => r.decision.candidates }),
    cost: t.field({ type: MoneyRef, resolve: (r) => r.costMicros }),
    decisionId: t.exposeString('decisionId'),
    decision: t.field({ type: DecisionRef, nullable: true, resolve: (r, _a, ctx) => ctx.loaders.decision.load(r.decisionId) }),
    chainSeqs: t.field({ type: ['SafeInt'], resolve: (r) => r.chainSeqs }),
    chainEntries: t.field({ type: [ChainEntryRef], resolve: (r, _a, ctx) => entriesOf(ctx, r.chainSeqs) }),
  }),
});

type RouteResultShape = RouteCallResult | ValidationErrorShape;

const RouteResult = builder.unionType('RouteResult', {
  types: [RouteSuccessRef, NoEligibleModelRef, InsufficientCreditRef, AllAttemptsFailedRef, ValidationErrorRef],
  resolveType: (r: RouteResultShape) => r.type,
});

// ---------------------------------------------------------------------------------------------
// reportOutcome results

const OutcomeRecordedRef = builder.objectRef<ReportOutcomeResult & { type: 'OutcomeRecorded' }>('OutcomeRecorded').implement({
  fields: (t) => ({
    decisionId: t.exposeString('decisionId'),
    model: t.exposeString('model'),
    taskType: t.field({ type: TaskTypeEnum, resolve: (r) => r.taskType }),
    success: t.exposeBoolean('success'),
    chainSeq: t.field({ type: 'SafeInt', resolve: (r) => r.chainSeq }),
    chainEntry: t.field({ type: ChainEntryRef, nullable: true, resolve: (r, _a, ctx) => ctx.loaders.entry.load(r.chainSeq) }),
  }),
});

interface OutcomeRefusedShape {
  type: 'OutcomeRefused';
  code: string;
  message: string;
}

const OutcomeRefusedRef = builder.objectRef<OutcomeRefusedShape>('OutcomeRefused').implement({
  description: 'Feedback not taken: DECISION_NOT_FOUND (also for another agent\'s decision), NO_MODEL_ANSWERED or FEEDBACK_ALREADY_GIVEN.',
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const ReportOutcomeResultUnion = builder.unionType('ReportOutcomeResult', {
  types: [OutcomeRecordedRef, OutcomeRefusedRef, ValidationErrorRef],
  resolveType: (r: { type: string }) => r.type,
});

builder.mutationFields((t) => ({
  route: t.field({
    type: RouteResult,
    description: 'Route one call: the model most likely to finish inside the caps answers; every step is signed onto the chain.',
    args: { input: t.arg({ type: RouteInput }) },
    resolve: async (_r, { input }, ctx): Promise<RouteResultShape> => {
      const agent = requireAgent(ctx);
      const req = toRouteRequest(input);
      if ('type' in req) return req;
      const result = await ctx.deps.gateway.routeCall(agent, req, {
        ...(input.idempotencyKey != null ? { idempotencyKey: input.idempotencyKey } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (result.type === 'ValidationError') {
        return validationError(result.field.startsWith('input.') ? result.field : `input.${result.field}`, result.message);
      }
      return result;
    },
  }),
  reportOutcome: t.field({
    type: ReportOutcomeResultUnion,
    description: "Tell the router whether a completion did the job (once per decision, the caller's own decisions only).",
    args: { decisionId: t.arg.string(), success: t.arg.boolean(), reason: t.arg.string({ required: false }) },
    resolve: async (_r, args, ctx) => {
      const agent = requireAgent(ctx);
      try {
        const r = await ctx.deps.gateway.reportOutcome(agent, args.decisionId, args.success, args.reason ?? null);
        return { type: 'OutcomeRecorded' as const, ...r };
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        if (err.code === 'INVALID_INPUT') return validationError(err.field ?? 'input', err.message);
        // Another agent's decision reads as not found: existence is private too.
        const code = err.code === 'FOREIGN_DECISION' ? 'DECISION_NOT_FOUND' : err.code;
        const message = err.code === 'FOREIGN_DECISION' ? `no decision ${JSON.stringify(args.decisionId)}` : err.message;
        return { type: 'OutcomeRefused' as const, code, message };
      }
    },
  }),
}));
