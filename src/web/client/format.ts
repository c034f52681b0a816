// Display formatting shared by the page's views. Pure: no DOM, unit-tested under node.

/** `0x1a2b3c4d…` → `1a2b3c4d` (first 8 hex digits), the short hash shown on the trace. */
export function shortHash(hash: string): string {
  const hex = hash.startsWith('0x') ? hash.slice(2) : hash;
  return hex.slice(0, 8);
}

/** HH:MM:SS.mmm in UTC (the chain's clock), e.g. `13:12:10.123`. */
export function clockTime(iso: string): string {
  const m = /T(\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)/.exec(iso);
  return m?.[1] ?? iso;
}

export function groupInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

/** Integer micro-USD → `$0.001250`, trimming zeros past the cents but keeping sub-cent precision. */
export function usdFromMicros(micros: number): string {
  if (!Number.isSafeInteger(micros)) return '–';
  const neg = micros < 0;
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / 1_000_000);
  let frac = String(abs % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}$${whole.toLocaleString('en-US')}.${frac}`;
}

/** A USD decimal string from the API (`"0.001250"`) → `$0.00125`. */
export function usdString(usd: string | null | undefined): string {
  if (usd == null || !/^-?\d+(\.\d+)?$/.test(usd)) return '–';
  const [w, f = ''] = usd.replace(/^-/, '').split('.');
  let frac = f.replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${usd.startsWith('-') ? '-' : ''}$${Number(w).toLocaleString('en-US')}.${frac}`;
}

export function ms(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

export function pct(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  return `${(v * 100).toFixed(v >= 0.995 || v < 0.1 ? 1 : 0)}%`;
}

export function tps(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  return `${Math.round(v)} tok/s`;
}

/** "model / provider", or whichever of the two is present. */
export function target(model: unknown, provider: unknown): string {
  const m = typeof model === 'string' && model ? model : '';
  const p = typeof provider === 'string' && provider ? provider : '';
  return m && p ? `${m} / ${p}` : m || p;
}
