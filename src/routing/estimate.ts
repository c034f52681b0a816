// Cheap token estimates for cost and context checks before any tokenizer runs: characters / 4 for text,
// a fixed cost per image, a few tokens of framing per message, and the tool definitions' JSON size.
// String lengths are O(1) in JS, so this never scans the prompt text itself.
import type { ContentPart, RouteRequest, TaskType } from './types.js';

export const CHARS_PER_TOKEN = 4;
/** Tokens charged per image part (a high-detail 1024px image is ~765-1100 on common tokenizers). */
export const IMAGE_TOKENS = 1_000;
const MESSAGE_OVERHEAD_TOKENS = 4;
/** Output budget assumed when the request sets no max_tokens: the executor sends it, so the hold is honest. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

/** Typical answer length per task type until we have learned it per model. */
export const EXPECTED_OUTPUT_TOKENS: Readonly<Record<TaskType, number>> = {
  tool_use: 200,
  vision: 300,
  extraction: 400,
  code: 900,
  reasoning: 1_500,
  summarization: 400,
  drafting: 700,
  chat: 400,
};

function partChars(content: string | readonly ContentPart[] | null | undefined): { chars: number; images: number } {
  if (!content) return { chars: 0, images: 0 };
  if (typeof content === 'string') return { chars: content.length, images: 0 };
  let chars = 0;
  let images = 0;
  for (const p of content) {
    if (p.type === 'text') chars += p.text.length;
    else if (p.type === 'image_url') images++;
  }
  return { chars, images };
}

/** Approximate JSON length of a value, visiting at most `budget` nodes (no string is built). */
export function approxJsonChars(value: unknown, budget = { nodes: 2_000 }): number {
  if (budget.nodes-- <= 0) return 0;
  if (value === null || value === undefined) return 4;
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'number':
    case 'boolean':
      return 6;
    case 'object': {
      let n = 2;
      if (Array.isArray(value)) {
        for (const v of value) n += approxJsonChars(v, budget) + 1;
      } else {
        for (const k in value as Record<string, unknown>) n += k.length + 4 + approxJsonChars((value as Record<string, unknown>)[k], budget);
      }
      return n;
    }
    default:
      return 0;
  }
}

/**
 * Input tokens to assume for the worst-case cost (the hold and the cost cap). The estimate above is a
 * typical count, not a bound: code and non-English text run nearer 3 characters a token, and a provider's
 * chat template adds framing tokens per request. Holding on the estimate meant small calls regularly cost
 * a few micro-USD more than their hold (charged at the hold: the operator absorbed the rest).
 */
export function worstCaseInputTokens(estimatedInputTokens: number): number {
  return Math.ceil(estimatedInputTokens * WORST_CASE_INPUT_FACTOR) + TEMPLATE_FRAMING_TOKENS;
}
const WORST_CASE_INPUT_FACTOR = 1.25;
const TEMPLATE_FRAMING_TOKENS = 24;

/** Estimated input tokens of a request. */
export function estimateInputTokens(request: RouteRequest): number {
  let chars = 0;
  let images = 0;
  let tokens = 0;
  for (const m of request.messages) {
    const c = partChars(m.content);
    chars += c.chars;
    images += c.images;
    tokens += MESSAGE_OVERHEAD_TOKENS;
    if (m.role === 'assistant' && m.tool_calls) {
      for (const t of m.tool_calls) chars += t.function.name.length + t.function.arguments.length + 16;
    }
  }
  if (request.tools && request.tools.length) chars += approxJsonChars(request.tools);
  if (request.responseFormat?.type === 'json_schema') chars += approxJsonChars(request.responseFormat.json_schema);
  return tokens + Math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS;
}
