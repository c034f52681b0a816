// Money at the API edge: integer micro-USD inside, an exact decimal USD string for people. Never floats.

const USD_RE = /^(0|[1-9]\d{0,8})(?:\.(\d{1,6}))?$/;

/** 1234567 → "1.234567"; exact, always 6 decimals. */
export function formatUsd(micros: number): string {
  const neg = micros < 0;
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / 1_000_000);
  const frac = String(abs % 1_000_000).padStart(6, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/** "0.25" → 250000. Null when the text is not a plain non-negative decimal with at most 6 places. */
export function parseUsd(text: string): number | null {
  const m = USD_RE.exec(text.trim());
  if (!m) return null;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(6, '0'));
  const micros = whole * 1_000_000 + frac;
  return Number.isSafeInteger(micros) ? micros : null;
}
