// Error classification: turns HTTP statuses, provider error bodies, socket errors and our own timers
// into one ErrorClass with a retry policy hint. The executor decides what to do; this module only says
// what happened and whether trying again (here or elsewhere) can help.
import type { ErrorClass, ErrorDetail, ProviderError } from './types.js';

/** Whether another model may succeed, and whether this same model may succeed on a second try. */
const RETRY_POLICY: Record<ErrorClass, { retryable: boolean; sameModelRetryable: boolean }> = {
  rate_limited: { retryable: true, sameModelRetryable: true },
  overloaded: { retryable: true, sameModelRetryable: true },
  timeout_connect: { retryable: true, sameModelRetryable: false },
  // A silent route is not retried: the next attempt goes elsewhere.
  timeout_first_token: { retryable: true, sameModelRetryable: false },
  timeout_stall: { retryable: true, sameModelRetryable: false },
  timeout_total: { retryable: true, sameModelRetryable: false },
  connection_reset: { retryable: true, sameModelRetryable: true },
  stream_cut: { retryable: true, sameModelRetryable: false },
  malformed_stream: { retryable: true, sameModelRetryable: false },
  // Another model may answer; the same one will refuse again.
  refusal: { retryable: true, sameModelRetryable: false },
  // Only a model with a larger context window can help.
  context_length: { retryable: true, sameModelRetryable: false },
  // Our request is wrong for everybody (unless a quirk explains it: see detail).
  bad_request: { retryable: false, sameModelRetryable: false },
  // Our key for this provider is wrong; another provider's key may be fine.
  auth: { retryable: true, sameModelRetryable: false },
  invalid_output: { retryable: true, sameModelRetryable: false },
  aborted: { retryable: false, sameModelRetryable: false },
};

export function providerError(
  cls: ErrorClass,
  message: string,
  extra: { status?: number; retryAfterMs?: number; detail?: ErrorDetail } = {},
): ProviderError {
  const policy = RETRY_POLICY[cls];
  const e: ProviderError = { class: cls, message: message.slice(0, 300), ...policy };
  if (extra.status !== undefined) e.status = extra.status;
  if (extra.retryAfterMs !== undefined) e.retryAfterMs = extra.retryAfterMs;
  if (extra.detail !== undefined) e.detail = extra.detail;
  // A rejected prefill or system role is a quirk of this model: retrying it adjusted (or elsewhere) helps.
  if (cls === 'bad_request' && (extra.detail === 'prefill_rejected' || extra.detail === 'system_role_rejected')) {
    e.retryable = true;
    e.sameModelRetryable = true;
  }
  return e;
}

type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Parses an OpenAI-style reset duration ("1s", "6m0s", "20ms", "1h2m3.5s"), a bare number of seconds,
 * or a Unix timestamp in seconds (some hosts send one). Returns milliseconds from now, or undefined.
 */
export function parseResetValue(value: string, nowMs: number): number | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    // Values this large are epoch seconds, not a delay.
    if (n > 1e9) return Math.max(0, Math.round(n * 1000 - nowMs));
    return Math.round(n * 1000);
  }
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (let m = re.exec(v); m; m = re.exec(v)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    matched += m[0];
  }
  return matched.length === v.length ? Math.round(total) : undefined;
}

/** Retry-After (seconds or HTTP-date), retry-after-ms, then x-ratelimit-reset-* (the exhausted limit's reset). */
export function parseRetryAfterMs(headers: HeaderBag, nowMs: number = Date.now(), rateLimitHeaders = true): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const ra = header(headers, 'retry-after');
  if (ra !== undefined) {
    const t = ra.trim();
    if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
    const date = Date.parse(t);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  if (!rateLimitHeaders) return undefined;
  const resets: { kind: string; ms: number }[] = [];
  for (const kind of ['requests', 'tokens', '']) {
    const name = kind ? `x-ratelimit-reset-${kind}` : 'x-ratelimit-reset';
    const raw = header(headers, name);
    if (raw === undefined) continue;
    const parsed = parseResetValue(raw, nowMs);
    if (parsed !== undefined) resets.push({ kind, ms: parsed });
  }
  if (resets.length === 0) return undefined;
  // Prefer the limit that is actually exhausted; if the headers do not say, wait for the later reset.
  const exhausted = resets.filter((r) => r.kind && header(headers, `x-ratelimit-remaining-${r.kind}`)?.trim() === '0');
  const pool = exhausted.length ? exhausted : resets;
  return Math.max(...pool.map((r) => r.ms));
}

/** Pulls code/type/message out of an OpenAI-style error body (or a bare string). */
export function parseErrorBody(text: string): { code: string; type: string; message: string } {
  let code = '';
  let type = '';
  let message = '';
  try {
    const j = JSON.parse(text) as unknown;
    const err = (j && typeof j === 'object' && 'error' in j ? (j as { error: unknown }).error : j) as unknown;
    if (typeof err === 'string') message = err;
    else if (err && typeof err === 'object') {
      const o = err as Record<string, unknown>;
      code = typeof o.code === 'string' || typeof o.code === 'number' ? String(o.code) : '';
      type = typeof o.type === 'string' ? o.type : '';
      message = typeof o.message === 'string' ? o.message : '';
    }
  } catch {
    message = text;
  }
  return { code, type, message: message.replace(/\s+/g, ' ').trim() };
}

const CONTEXT_RE = /context[_ ]length[_ ]exceeded|maximum context length|context window|too many tokens|prompt is too long|input is too long/i;
const FILTER_RE = /content[_ ]filter|content[_ ]policy|safety|moderation|refus/i;
const PREFILL_RE = /prefill|last message.*(must|should).*(user|tool)|assistant message.*(last|final|end)|final message.*assistant/i;
const SYSTEM_RE = /system (role|message).*(not supported|unsupported|invalid)/i;

/**
 * Classifies a non-2xx answer. `secret` (the API key) is scrubbed from the message in case a provider
 * echoes it back.
 */
export function classifyHttpError(status: number, headers: HeaderBag, bodyText: string, secret?: string): ProviderError {
  const { code, type, message: raw } = parseErrorBody(bodyText);
  const msg = scrub(`HTTP ${status}${code ? ` ${code}` : ''}${raw ? `: ${raw}` : ''}`, secret);
  const hay = `${code} ${type} ${raw}`;
  if (status === 429) {
    const ra = parseRetryAfterMs(headers);
    return providerError('rate_limited', msg, ra === undefined ? { status } : { status, retryAfterMs: ra });
  }
  if (status === 401 || status === 403) {
    if (FILTER_RE.test(hay) && status === 403) return providerError('refusal', msg, { status, detail: 'content_filter' });
    return providerError('auth', msg, { status });
  }
  if (status === 529 || status >= 500) {
    // x-ratelimit-reset-* ride on every answer of some hosts: only an explicit Retry-After counts here.
    const ra = parseRetryAfterMs(headers, Date.now(), false);
    return providerError('overloaded', msg, ra === undefined ? { status } : { status, retryAfterMs: ra });
  }
  if (status === 408) return providerError('timeout_total', msg, { status });
  if (status === 413 || CONTEXT_RE.test(hay)) return providerError('context_length', msg, { status });
  if (FILTER_RE.test(hay)) return providerError('refusal', msg, { status, detail: 'content_filter' });
  if (PREFILL_RE.test(hay)) return providerError('bad_request', msg, { status, detail: 'prefill_rejected' });
  if (SYSTEM_RE.test(hay)) return providerError('bad_request', msg, { status, detail: 'system_role_rejected' });
  if (status === 404) return providerError('bad_request', msg, { status, detail: 'not_found' });
  return providerError('bad_request', msg, { status });
}

/** Classifies an error carried inside a 200 stream (`data: {"error": {...}}`). */
export function classifyStreamErrorPayload(err: unknown, secret?: string): ProviderError {
  const o = (err && typeof err === 'object' ? err : { message: String(err) }) as Record<string, unknown>;
  const status = typeof o.status === 'number' ? o.status : typeof o.code === 'number' ? o.code : undefined;
  const text = JSON.stringify({ error: o });
  if (status !== undefined && status >= 400) return classifyHttpError(status, {}, text, secret);
  const { code, type, message } = parseErrorBody(text);
  const hay = `${code} ${type} ${message}`;
  const msg = scrub(`stream error${code ? ` ${code}` : ''}: ${message}`, secret);
  if (/rate.?limit/i.test(hay)) return providerError('rate_limited', msg);
  if (CONTEXT_RE.test(hay)) return providerError('context_length', msg);
  if (FILTER_RE.test(hay)) return providerError('refusal', msg, { detail: 'content_filter' });
  // An error mid-stream is the server giving up: treat it like a 5xx.
  return providerError('overloaded', msg);
}

/** Socket-level failures from undici/node. `headersReceived` tells a reset before the answer from a cut. */
export function classifyNetworkError(err: unknown, headersReceived: boolean, secret?: string): ProviderError {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  const message = scrub(`${code || e?.name || 'error'}: ${e?.message ?? e?.cause?.message ?? String(err)}`, secret);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return providerError('timeout_connect', message);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return providerError('timeout_first_token', message);
  if (code === 'UND_ERR_BODY_TIMEOUT') return providerError('timeout_stall', message);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    // Nobody is listening: the provider is down, which the breaker should see like a 503; the detail
    // tells an operator it is an address problem, not load.
    return providerError('overloaded', message, { detail: 'unreachable' });
  }
  void headersReceived;
  return providerError('connection_reset', message);
}

export function scrub(text: string, secret?: string): string {
  let t = text;
  if (secret && secret.length >= 4) t = t.split(secret).join('[redacted]');
  // Anything that looks like a bearer key.
  return t.replace(/\b(sk|pk|key|gsk|api)[-_][A-Za-z0-9_-]{12,}\b/g, '[redacted]');
}
