// Validates and normalizes a RouteRequest before anything is written: bad input returns a
// ValidationError naming the field (`messages.2.content`), and nothing else happens. The normalized
// copy holds only known fields, so whatever a caller smuggles in never reaches a provider or the chain.
import { createHash, createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import { TASK_TYPES, type ChatMessage, type ContentPart, type RouteRequest, type TaskType, type ToolCall, type ToolDefinition } from '../routing/types.js';
import { randomHex } from './random-pool.js';
import type { RouteValidationError } from './types.js';

export const LIMITS = {
  messages: 2_000,
  tools: 128,
  toolCalls: 128,
  parts: 256,
  maxOutputTokens: 1_000_000,
  idempotencyKeyChars: 200,
  reasonChars: 500,
  nameChars: 64,
};

/** A lone UTF-16 surrogate has no UTF-8 form: providers would get mangled bytes. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

class Invalid extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const fail = (field: string, message: string): never => {
  throw new Invalid(field, `${field}: ${message}`);
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (o[k] !== undefined && !allowed.includes(k)) fail(at ? `${at}.${k}` : k, 'unknown field');
  }
}

function str(v: unknown, field: string, opts: { allowEmpty?: boolean; max?: number } = {}): string {
  if (typeof v !== 'string') return fail(field, 'must be a string');
  if (!opts.allowEmpty && v.length === 0) fail(field, 'must not be empty');
  if (opts.max !== undefined && v.length > opts.max) fail(field, `must be at most ${opts.max} characters`);
  if (LONE_SURROGATE.test(v)) fail(field, 'is not valid Unicode (lone surrogate)');
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) return fail(field, 'must be an integer');
  if (v < min || v > max) fail(field, `must be between ${min} and ${max}`);
  return v;
}

function num(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fail(field, 'must be a number');
  if (v < min || v > max) fail(field, `must be between ${min} and ${max}`);
  return v;
}

function textParts(v: unknown, field: string): string | { type: 'text'; text: string }[] {
  if (typeof v === 'string') return str(v, field, { allowEmpty: true });
  if (!Array.isArray(v)) return fail(field, 'must be a string or an array of text parts');
  if (v.length > LIMITS.parts) fail(field, `must have at most ${LIMITS.parts} parts`);
  return v.map((p, i) => {
    const at = `${field}.${i}`;
    if (!isObj(p) || p.type !== 'text') return fail(`${at}.type`, "must be 'text' here");
    onlyKeys(p, ['type', 'text'], at);
    return { type: 'text' as const, text: str(p.text, `${at}.text`, { allowEmpty: true }) };
  });
}

function userParts(v: unknown, field: string): string | ContentPart[] {
  if (typeof v === 'string') return str(v, field, { allowEmpty: true });
  if (!Array.isArray(v)) return fail(field, 'must be a string or an array of content parts');
  if (v.length === 0) fail(field, 'must not be empty');
  if (v.length > LIMITS.parts) fail(field, `must have at most ${LIMITS.parts} parts`);
  return v.map((p, i): ContentPart => {
    const at = `${field}.${i}`;
    if (!isObj(p)) return fail(at, 'must be an object');
    if (p.type === 'text') {
      onlyKeys(p, ['type', 'text'], at);
      return { type: 'text', text: str(p.text, `${at}.text`, { allowEmpty: true }) };
    }
    if (p.type === 'image_url') {
      onlyKeys(p, ['type', 'image_url'], at);
      if (!isObj(p.image_url)) return fail(`${at}.image_url`, 'must be an object with a url');
      onlyKeys(p.image_url, ['url', 'detail'], `${at}.image_url`);
      const url = str(p.image_url.url, `${at}.image_url.url`);
      if (!/^(https?:\/\/|data:image\/)/i.test(url)) fail(`${at}.image_url.url`, 'must be an http(s) URL or a data:image/ URL');
      const detail = p.image_url.detail;
      if (detail !== undefined && detail !== 'auto' && detail !== 'low' && detail !== 'high') {
        fail(`${at}.image_url.detail`, "must be 'auto', 'low' or 'high'");
      }
      return { type: 'image_url', image_url: detail === undefined ? { url } : { url, detail: detail as 'auto' | 'low' | 'high' } };
    }
    return fail(`${at}.type`, "must be 'text' or 'image_url'");
  });
}

function toolCalls(v: unknown, field: string): ToolCall[] {
  if (!Array.isArray(v)) return fail(field, 'must be an array');
  if (v.length > LIMITS.toolCalls) fail(field, `must have at most ${LIMITS.toolCalls} entries`);
  return v.map((c, i) => {
    const at = `${field}.${i}`;
    if (!isObj(c)) return fail(at, 'must be an object');
    onlyKeys(c, ['id', 'type', 'function'], at);
    if (c.type !== undefined && c.type !== 'function') fail(`${at}.type`, "must be 'function'");
    if (!isObj(c.function)) return fail(`${at}.function`, 'must be an object');
    onlyKeys(c.function, ['name', 'arguments'], `${at}.function`);
    return {
      id: str(c.id, `${at}.id`, { max: 256 }),
      type: 'function' as const,
      function: {
        name: str(c.function.name, `${at}.function.name`, { max: LIMITS.nameChars }),
        arguments: str(c.function.arguments, `${at}.function.arguments`, { allowEmpty: true }),
      },
    };
  });
}

function message(m: unknown, at: string): ChatMessage {
  if (!isObj(m)) return fail(at, 'must be an object');
  const name = m.name === undefined ? undefined : str(m.name, `${at}.name`, { max: LIMITS.nameChars });
  const withName = <T extends object>(o: T): T => (name === undefined ? o : { ...o, name });
  switch (m.role) {
    case 'system':
    case 'developer': {
      onlyKeys(m, ['role', 'content', 'name'], at);
      // `developer` is OpenAI's newer name for the system role; providers here speak `system`.
      return withName({ role: 'system' as const, content: textParts(m.content, `${at}.content`) });
    }
    case 'user':
      onlyKeys(m, ['role', 'content', 'name'], at);
      return withName({ role: 'user' as const, content: userParts(m.content, `${at}.content`) });
    case 'assistant': {
      onlyKeys(m, ['role', 'content', 'name', 'tool_calls', 'refusal'], at);
      const out: ChatMessage = { role: 'assistant' };
      if (m.content !== undefined && m.content !== null) out.content = textParts(m.content, `${at}.content`);
      if (m.tool_calls !== undefined && m.tool_calls !== null) out.tool_calls = toolCalls(m.tool_calls, `${at}.tool_calls`);
      if (out.content === undefined && !out.tool_calls?.length) fail(`${at}.content`, 'an assistant message needs content or tool_calls');
      return withName(out);
    }
    case 'tool':
      onlyKeys(m, ['role', 'content', 'tool_call_id'], at);
      return { role: 'tool', content: textParts(m.content, `${at}.content`), tool_call_id: str(m.tool_call_id, `${at}.tool_call_id`, { max: 256 }) };
    default:
      return fail(`${at}.role`, "must be one of 'system', 'developer', 'user', 'assistant', 'tool'");
  }
}

function tools(v: unknown, field: string): ToolDefinition[] {
  if (!Array.isArray(v)) return fail(field, 'must be an array');
  if (v.length > LIMITS.tools) fail(field, `must have at most ${LIMITS.tools} tools`);
  const names = new Set<string>();
  return v.map((t, i) => {
    const at = `${field}.${i}`;
    if (!isObj(t)) return fail(at, 'must be an object');
    onlyKeys(t, ['type', 'function'], at);
    if (t.type !== 'function') fail(`${at}.type`, "must be 'function'");
    if (!isObj(t.function)) return fail(`${at}.function`, 'must be an object');
    const f = t.function;
    onlyKeys(f, ['name', 'description', 'parameters', 'strict'], `${at}.function`);
    const name = str(f.name, `${at}.function.name`, { max: LIMITS.nameChars });
    if (!/^[A-Za-z0-9_-]+$/.test(name)) fail(`${at}.function.name`, 'must use only A-Z, a-z, 0-9, _ and -');
    if (names.has(name)) fail(`${at}.function.name`, `duplicate tool name ${JSON.stringify(name)}`);
    names.add(name);
    const def: ToolDefinition = { type: 'function', function: { name } };
    if (f.description !== undefined) def.function.description = str(f.description, `${at}.function.description`, { allowEmpty: true });
    if (f.parameters !== undefined) {
      if (!isObj(f.parameters)) fail(`${at}.function.parameters`, 'must be a JSON Schema object');
      def.function.parameters = f.parameters as Record<string, unknown>;
    }
    if (f.strict !== undefined) {
      if (typeof f.strict !== 'boolean') fail(`${at}.function.strict`, 'must be a boolean');
      def.function.strict = f.strict as boolean;
    }
    return def;
  });
}

/** Validates and normalizes; throws Invalid. */
function normalize(input: unknown): RouteRequest {
  if (!isObj(input)) return fail('request', 'must be an object');
  onlyKeys(input, ['messages', 'tools', 'toolChoice', 'responseFormat', 'maxOutputTokens', 'temperature', 'stream', 'taskType', 'caps', 'pin'], '');
  if (!Array.isArray(input.messages)) return fail('messages', 'must be an array');
  if (input.messages.length === 0) fail('messages', 'must not be empty');
  if (input.messages.length > LIMITS.messages) fail('messages', `must have at most ${LIMITS.messages} messages`);
  const out: RouteRequest = { messages: input.messages.map((m, i) => message(m, `messages.${i}`)) };

  if (input.tools !== undefined && input.tools !== null) {
    const t = tools(input.tools, 'tools');
    if (t.length) out.tools = t;
  }
  if (input.toolChoice !== undefined && input.toolChoice !== null) {
    const c = input.toolChoice;
    if (c === 'none' || c === 'auto' || c === 'required') out.toolChoice = c;
    else if (isObj(c) && c.type === 'function' && isObj(c.function)) {
      const name = str(c.function.name, 'toolChoice.function.name');
      if (!out.tools?.some((t) => t.function.name === name)) fail('toolChoice.function.name', `names no tool in tools`);
      out.toolChoice = { type: 'function', function: { name } };
    } else fail('toolChoice', "must be 'none', 'auto', 'required' or {type:'function', function:{name}}");
    if (out.toolChoice === 'required' && !out.tools) fail('toolChoice', "'required' needs tools");
  }
  if (input.responseFormat !== undefined && input.responseFormat !== null) {
    const r = input.responseFormat;
    if (!isObj(r)) return fail('responseFormat', 'must be an object');
    if (r.type === 'text' || r.type === 'json_object') {
      onlyKeys(r, ['type'], 'responseFormat');
      out.responseFormat = { type: r.type };
    } else if (r.type === 'json_schema') {
      onlyKeys(r, ['type', 'json_schema'], 'responseFormat');
      const js = r.json_schema;
      if (!isObj(js)) return fail('responseFormat.json_schema', 'must be an object');
      onlyKeys(js, ['name', 'description', 'schema', 'strict'], 'responseFormat.json_schema');
      const name = str(js.name, 'responseFormat.json_schema.name', { max: LIMITS.nameChars });
      const schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean } = { name };
      if (js.description !== undefined) schema.description = str(js.description, 'responseFormat.json_schema.description', { allowEmpty: true });
      if (js.schema !== undefined) {
        if (!isObj(js.schema)) fail('responseFormat.json_schema.schema', 'must be a JSON Schema object');
        schema.schema = js.schema as Record<string, unknown>;
      }
      if (js.strict !== undefined) {
        if (typeof js.strict !== 'boolean') fail('responseFormat.json_schema.strict', 'must be a boolean');
        schema.strict = js.strict as boolean;
      }
      out.responseFormat = { type: 'json_schema', json_schema: schema };
    } else fail('responseFormat.type', "must be 'text', 'json_object' or 'json_schema'");
  }
  if (input.maxOutputTokens !== undefined && input.maxOutputTokens !== null) {
    out.maxOutputTokens = int(input.maxOutputTokens, 'maxOutputTokens', 1, LIMITS.maxOutputTokens);
  }
  if (input.temperature !== undefined && input.temperature !== null) out.temperature = num(input.temperature, 'temperature', 0, 2);
  if (input.stream !== undefined && input.stream !== null) {
    if (typeof input.stream !== 'boolean') fail('stream', 'must be a boolean');
    out.stream = input.stream as boolean;
  }
  if (input.taskType !== undefined && input.taskType !== null) {
    if (!TASK_TYPES.includes(input.taskType as TaskType)) fail('taskType', `must be one of ${TASK_TYPES.join(', ')}`);
    out.taskType = input.taskType as TaskType;
  }
  if (input.caps !== undefined && input.caps !== null) {
    const c = input.caps;
    if (!isObj(c)) return fail('caps', 'must be an object');
    onlyKeys(c, ['costCeilingMicros', 'latencyTargetMs', 'minFinishProbability'], 'caps');
    const caps: NonNullable<RouteRequest['caps']> = {};
    if (c.costCeilingMicros !== undefined && c.costCeilingMicros !== null) {
      caps.costCeilingMicros = int(c.costCeilingMicros, 'caps.costCeilingMicros', 0, Number.MAX_SAFE_INTEGER);
    }
    if (c.latencyTargetMs !== undefined && c.latencyTargetMs !== null) {
      caps.latencyTargetMs = int(c.latencyTargetMs, 'caps.latencyTargetMs', 1, 86_400_000);
    }
    if (c.minFinishProbability !== undefined && c.minFinishProbability !== null) {
      caps.minFinishProbability = num(c.minFinishProbability, 'caps.minFinishProbability', 0, 1);
    }
    if (Object.keys(caps).length) out.caps = caps;
  }
  if (input.pin !== undefined && input.pin !== null) {
    const p = input.pin;
    if (!isObj(p)) return fail('pin', 'must be an object');
    onlyKeys(p, ['model', 'provider'], 'pin');
    const pin: NonNullable<RouteRequest['pin']> = {};
    if (p.model !== undefined && p.model !== null) pin.model = str(p.model, 'pin.model', { max: 200 });
    if (p.provider !== undefined && p.provider !== null) pin.provider = str(p.provider, 'pin.provider', { max: 200 });
    if (pin.model !== undefined || pin.provider !== undefined) out.pin = pin;
  }
  return out;
}

export type Normalized = { ok: true; request: RouteRequest } | { ok: false; error: RouteValidationError };

export function validateRouteRequest(input: unknown): Normalized {
  try {
    return { ok: true, request: normalize(input) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: { type: 'ValidationError', field: err.field, message: err.message } };
    throw err;
  }
}

export function validateIdempotencyKey(key: unknown): RouteValidationError | null {
  if (key === undefined || key === null) return null;
  if (typeof key !== 'string' || key.length === 0 || key.length > LIMITS.idempotencyKeyChars || !/^[\x21-\x7e]+$/.test(key)) {
    return {
      type: 'ValidationError',
      field: 'idempotencyKey',
      message: `idempotencyKey: must be 1-${LIMITS.idempotencyKeyChars} printable ASCII characters without spaces`,
    };
  }
  return null;
}

/**
 * `0x` + SHA-256 of the RFC 8785 bytes of the normalized request. Private: it stays in the decision record
 * (idempotency keys compare it), never on the public chain, where anyone could test a guessed prompt
 * against an unsalted hash.
 */
export function requestHash(request: RouteRequest): string {
  return requestDigests(request, null).hash;
}

/** A fresh 32-byte salt (hex) for one decision's request commitment. */
export function newRequestSalt(): string {
  return randomHex(32);
}

/**
 * Both digests of a request from one canonicalization: the private `hash` and, given a salt, the public
 * `commitment` = `0x` + HMAC-SHA256(key = the salt's 32 bytes, message = RFC 8785 bytes of the request).
 * The commitment is what the chain carries: it reveals nothing about the prompt (a guess cannot be
 * checked without the salt), yet the agent, holding the salt from its private decision record, can prove
 * to anyone which request a decision answered.
 */
export function requestDigests(request: RouteRequest, saltHex: string | null): { hash: string; commitment: string | null } {
  const bytes = canonicalize(request) ?? '';
  return {
    hash: `0x${createHash('sha256').update(bytes, 'utf8').digest('hex')}`,
    commitment: saltHex === null ? null : `0x${createHmac('sha256', Buffer.from(saltHex, 'hex')).update(bytes, 'utf8').digest('hex')}`,
  };
}
