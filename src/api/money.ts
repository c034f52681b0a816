// Money at the API edge: integer micro-USD inside, an exact decimal USD string for people. Never floats.
import { formatMicros, parseUsdToMicros } from '../accounts/money.js';

/** 1234567 → "1.234567"; exact, always 6 decimals, no currency sign. */
export function formatUsd(micros: number): string {
  return formatMicros(micros).replace('$', '');
}

/** "0.25" → 250000. Null when the text is not a plain non-negative decimal with at most 6 places. */
export function parseUsd(text: string): number | null {
  const m = parseUsdToMicros(text);
  return m !== null && Number.isSafeInteger(m) ? m : null;
}
