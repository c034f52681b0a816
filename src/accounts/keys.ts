// API keys and the admin token. A key is shown once and stored only as its SHA-256 (hex): a leaked
// database does not leak working keys, and lookup by hash stays an indexed equality match.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_PREFIX = 'ak_';
/** `ak_` + base64url of 32 random bytes (43 chars, no padding). */
const API_KEY_RE = /^ak_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** True when the string has the shape of one of our keys (cheap reject before any store lookup). */
export function looksLikeApiKey(value: string): boolean {
  return API_KEY_RE.test(value);
}

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/**
 * Constant-time comparison of a presented token with the expected one. Both sides are hashed first so
 * the comparison runs over equal lengths and leaks neither the token's length nor a matching prefix.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Pulls the token out of an `Authorization: Bearer <token>` header value; null when absent or malformed. */
export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return m ? (m[1] ?? null) : null;
}
