// Per-provider (and per-model) deviations from the OpenAI wire protocol, kept as data so that one
// adapter serves every OpenAI-compatible host. applyQuirks turns our request into what that host accepts
// and says what it changed, so the change is recorded rather than silent.
import type { ChatMessage, ChatRequest } from './types.js';

export interface ProviderQuirks {
  /** Which field carries the output cap (newer OpenAI models want max_completion_tokens). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Accepts stream_options.include_usage (otherwise usage is estimated or read from the last chunk). */
  streamUsage: boolean;
  /** Accepts a trailing assistant message to continue from (prefill). */
  assistantPrefill: boolean;
  /** Accepts the system role; when false, system text is folded into the first user message. */
  systemRole: boolean;
  /** Accepts temperature (reasoning models often reject it). */
  temperature: boolean;
  /** Accepts response_format json_schema (otherwise downgraded to json_object). */
  jsonSchema: boolean;
}

export const DEFAULT_QUIRKS: ProviderQuirks = {
  maxTokensField: 'max_tokens',
  streamUsage: true,
  assistantPrefill: true,
  systemRole: true,
  temperature: true,
  jsonSchema: true,
};

/** What we know of real hosts (by provider id as used in configuration). Models may override further. */
export const KNOWN_PROVIDER_QUIRKS: Readonly<Record<string, Partial<ProviderQuirks>>> = {
  openai: { maxTokensField: 'max_completion_tokens', assistantPrefill: false },
  groq: { assistantPrefill: true },
  deepseek: { assistantPrefill: false, jsonSchema: false },
  together: {},
  novita: {},
  deepinfra: {},
  zai: { assistantPrefill: false },
  alibaba: { assistantPrefill: false },
  minimax: { assistantPrefill: false, jsonSchema: false },
};

export function resolveQuirks(providerId: string, ...overrides: (Partial<ProviderQuirks> | undefined)[]): ProviderQuirks {
  const q: ProviderQuirks = { ...DEFAULT_QUIRKS, ...KNOWN_PROVIDER_QUIRKS[providerId.toLowerCase()] };
  for (const o of overrides) if (o) Object.assign(q, o);
  return q;
}

/** Known quirk keys from a config record (`Record<string, string|number|boolean>`); unknown keys are ignored. */
export function quirksFromRecord(rec: Readonly<Record<string, string | number | boolean>> | undefined): Partial<ProviderQuirks> {
  const out: Partial<ProviderQuirks> = {};
  if (!rec) return out;
  for (const k of Object.keys(DEFAULT_QUIRKS) as (keyof ProviderQuirks)[]) {
    const v = rec[k];
    if (v === undefined) continue;
    if (k === 'maxTokensField') {
      if (v === 'max_tokens' || v === 'max_completion_tokens') out.maxTokensField = v;
    } else if (typeof v === 'boolean') {
      out[k] = v;
    }
  }
  return out;
}

/** True when the conversation ends with an assistant message that the model should continue. */
export function hasAssistantPrefill(messages: readonly ChatMessage[]): boolean {
  const last = messages[messages.length - 1];
  return !!last && last.role === 'assistant' && !last.tool_calls?.length;
}

export interface WireBodyOptions {
  model: string;
  stream: boolean;
  quirks: ProviderQuirks;
  /** Drop a trailing assistant prefill even if the provider claims to accept it (the executor's retry after a rejection). */
  stripPrefill?: boolean;
}

/** Builds the JSON body for one provider and lists what was adjusted for its quirks. */
export function buildWireBody(req: ChatRequest, opts: WireBodyOptions): { body: Record<string, unknown>; adjustments: string[] } {
  const { quirks } = opts;
  const adjustments: string[] = [];
  let messages = req.messages;

  if ((!quirks.assistantPrefill || opts.stripPrefill) && hasAssistantPrefill(messages)) {
    messages = messages.slice(0, -1);
    adjustments.push('prefill_stripped');
  }
  if (!quirks.systemRole && messages.some((m) => m.role === 'system' || m.role === 'developer')) {
    messages = foldSystemIntoUser(messages);
    adjustments.push('system_folded');
  }

  const body: Record<string, unknown> = { model: opts.model, messages };
  if (req.tools?.length) {
    body.tools = req.tools;
    if (req.tool_choice !== undefined) body.tool_choice = req.tool_choice;
  }
  if (req.response_format) {
    if (req.response_format.type === 'json_schema' && !quirks.jsonSchema) {
      body.response_format = { type: 'json_object' };
      adjustments.push('json_schema_downgraded');
    } else {
      body.response_format = req.response_format;
    }
  }
  if (req.maxOutputTokens !== undefined) body[quirks.maxTokensField] = req.maxOutputTokens;
  if (req.temperature !== undefined) {
    if (quirks.temperature) body.temperature = req.temperature;
    else adjustments.push('temperature_dropped');
  }
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  if (opts.stream) {
    body.stream = true;
    if (quirks.streamUsage) body.stream_options = { include_usage: true };
  }
  return { body, adjustments };
}

function foldSystemIntoUser(messages: readonly ChatMessage[]): ChatMessage[] {
  const systemText = messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => (typeof m.content === 'string' ? m.content : ''))
    .filter(Boolean)
    .join('\n\n');
  const rest = messages.filter((m) => m.role !== 'system' && m.role !== 'developer');
  const i = rest.findIndex((m) => m.role === 'user');
  if (i < 0) return [{ role: 'user', content: systemText }, ...rest];
  const first = rest[i]!;
  const merged: ChatMessage =
    Array.isArray(first.content)
      ? { ...first, content: [{ type: 'text', text: systemText }, ...first.content] }
      : { ...first, content: `${systemText}\n\n${first.content ?? ''}` };
  return [...rest.slice(0, i), merged, ...rest.slice(i + 1)];
}
