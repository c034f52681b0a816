// Parsing and printing USD amounts as integer micro-USD, without ever going through a float.

const USD_RE = /^(\d{1,9})(?:\.(\d{1,6}))?$/;

/** "1.5" → 1_500_000. Up to 6 decimals; null when malformed. */
export function parseUsdToMicros(text: string): number | null {
  const m = USD_RE.exec(text.trim().replace(/^\$/, ''));
  if (!m) return null;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(6, '0'));
  return whole * 1_000_000 + frac;
}

/** 1_500_000 → "$1.500000" (exact): the catalog's formatter, one definition for the whole codebase. */
export { formatMicros } from '../catalog/prices.js';
