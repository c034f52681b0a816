// Seeded randomness and plausible output for the simulated fleet. The fleet never echoes the prompt:
// completions are built from a fixed neutral vocabulary, tool arguments and JSON from the offered schemas.

import { createRng } from '../util/random.js';

/** The simulation's PRNG is the shared seeded one (src/util/random.ts). */
export { createRng };

/** Standard normal sample (Box-Muller). */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Log-normal sample with the given median and shape (sigma of the underlying normal). */
export function logNormal(rng: () => number, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(rng));
}

const WORDS = (
  'the plan uses a small set of steps to reach a clear result and each step checks its input before ' +
  'moving on so that errors surface early while the overall design stays simple to read test and change ' +
  'in practice this means fewer surprises a shorter path to a working answer and notes that explain why ' +
  'every choice was made given the constraints stated above'
).split(' ');

/** `n` tokens of neutral prose; each token is one word with its leading space (about one token each). */
export function sampleTokens(rng: () => number, n: number): string[] {
  const out: string[] = [];
  let sentence = 0;
  for (let i = 0; i < n; i++) {
    let w = WORDS[Math.floor(rng() * WORDS.length)] ?? 'ok';
    if (sentence === 0) w = w.charAt(0).toUpperCase() + w.slice(1);
    sentence++;
    const end = i === n - 1 || (sentence > 6 && rng() < 0.15);
    if (end) sentence = 0;
    out.push(`${i === 0 ? '' : ' '}${w}${end ? '.' : ''}`);
  }
  return out;
}

/** A value that satisfies a (simple) JSON schema: required properties, enums, types, arrays. */
export function sampleFromSchema(schema: unknown, rng: () => number, depth = 0): unknown {
  const s = (schema && typeof schema === 'object' ? schema : {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[Math.floor(rng() * s.enum.length)];
  if ('const' in s) return s.const;
  const anyOf = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(anyOf) && anyOf.length) return sampleFromSchema(anyOf[0], rng, depth + 1);
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = s.properties ? 'object' : 'string';
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s.required) ? (s.required as string[]) : Object.keys(props);
      const obj: Record<string, unknown> = {};
      if (depth > 6) return obj;
      for (const k of required) obj[k] = sampleFromSchema(props[k], rng, depth + 1);
      return obj;
    }
    case 'array':
      return depth > 6 ? [] : [sampleFromSchema(s.items, rng, depth + 1)];
    case 'integer':
      return Math.floor(rng() * 100);
    case 'number':
      return Math.round(rng() * 10000) / 100;
    case 'boolean':
      return rng() < 0.5;
    case 'null':
      return null;
    default:
      return sampleTokens(rng, 2 + Math.floor(rng() * 3)).join('').replace(/\.$/, '');
  }
}

/** Rough prompt token count the way the fleet bills it (about 4 characters per token, plus framing). */
export function countInputTokens(body: { messages?: unknown; tools?: unknown }): number {
  let chars = 0;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const m of messages) {
    const c = (m as { content?: unknown }).content;
    if (typeof c === 'string') chars += c.length;
    else if (Array.isArray(c)) {
      for (const p of c) {
        const part = p as { type?: string; text?: string };
        // An image costs a fixed amount, like real vision models' tiles.
        chars += part.type === 'text' ? (part.text ?? '').length : 85 * 4;
      }
    }
    const tc = (m as { tool_calls?: unknown }).tool_calls;
    if (tc) chars += JSON.stringify(tc).length;
  }
  if (body.tools) chars += JSON.stringify(body.tools).length;
  return Math.ceil(chars / 4) + 4 * messages.length + 3;
}

/** micro-USD per million tokens → USD per token as a plain decimal string (OpenRouter's pricing format), exact. */
export function microsPerMTokToUsdPerToken(micros: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new RangeError(`price must be a non-negative integer of micro-USD, got ${micros}`);
  if (micros === 0) return '0';
  // USD/token = micros / 1e12: place the decimal point 12 digits from the right.
  const digits = String(micros).padStart(13, '0');
  const int = digits.slice(0, -12).replace(/^0+(?=\d)/, '');
  const frac = digits.slice(-12).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}
