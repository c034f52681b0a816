// Price arithmetic in integers only. Prices are integer micro-USD per million tokens; a provider's
// OpenRouter-format list gives USD per token as a decimal string ("0.00000015" = $0.15/MTok), which is
// converted by shifting the decimal point 12 places (1e6 tokens × 1e6 micros) on the digits themselves,
// so "0.0000003" is exactly 300_000 and never 299_999.99999.

/** A price string that cannot be read; the field names which one. */
export class PriceParseError extends Error {
  override readonly name = 'PriceParseError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${field}: ${reason} (got ${JSON.stringify(value)})`);
  }
}

const DECIMAL = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * USD-per-token decimal string → integer micro-USD per million tokens (exact; rounds half up only below
 * one micro per MTok, which no real price reaches). Accepts plain decimals and exponent notation; rejects
 * negatives (OpenRouter uses "-1" for "variable"), empty strings, NaN and values that do not fit safely.
 */
export function usdPerTokenToMicrosPerMTok(value: unknown, field = 'price'): number {
  // Some lists send a JSON number; String() of a finite number round-trips exactly (possibly as 1.5e-7).
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string') throw new PriceParseError(field, value, 'expected a decimal string');
  const m = DECIMAL.exec(text.trim());
  if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
    throw new PriceParseError(field, value, 'not a non-negative decimal number');
  }
  const intPart = m[1] ?? '';
  const fracPart = m[2] ?? '';
  const exp = (m[3] ? Number.parseInt(m[3], 10) : 0) + 12;
  // digits × 10^(exp - fracPart.length)
  const digits = (intPart + fracPart).replace(/^0+(?=\d)/, '');
  const shift = exp - fracPart.length;
  let result: bigint;
  if (shift >= 0) {
    result = BigInt(digits || '0') * 10n ** BigInt(shift);
  } else {
    const div = 10n ** BigInt(-shift);
    const n = BigInt(digits || '0');
    result = n / div;
    if ((n % div) * 2n >= div) result += 1n;
  }
  if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new PriceParseError(field, value, 'price too large');
  return Number(result);
}

const MTOK = 1_000_000;

/**
 * Cost in integer micro-USD of `tokens` at `microsPerMTok`, rounded up (a partial micro is charged as
 * one, so a hold never falls short). Split so intermediate products stay below 2^53 for any realistic
 * price (≤ $9,000/MTok) and token count.
 */
export function tokenCostMicros(tokens: number, microsPerMTok: number): number {
  if (tokens <= 0 || microsPerMTok <= 0) return 0;
  const whole = Math.floor(tokens / MTOK);
  const rest = tokens - whole * MTOK;
  return whole * microsPerMTok + ceilDiv(rest * microsPerMTok, MTOK);
}

/** Cost of one call: input plus output tokens at a price. */
export function callCostMicros(
  inputTokens: number,
  outputTokens: number,
  price: { inputPerMTokMicros: number; outputPerMTokMicros: number },
): number {
  return tokenCostMicros(inputTokens, price.inputPerMTokMicros) + tokenCostMicros(outputTokens, price.outputPerMTokMicros);
}

/** "$0.001234" for a micro-USD amount (human messages only; never used for arithmetic). */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(micros));
  const whole = Math.floor(abs / 1_000_000);
  const frac = String(abs % 1_000_000).padStart(6, '0');
  return `${sign}$${whole}.${frac}`;
}

/** ceil(a / b) for non-negative safe integers, exact (no reliance on float division rounding). */
function ceilDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  let r = a - q * b;
  // The float quotient can land one off near an integer for large a: correct it.
  if (r < 0) {
    q -= 1;
    r += b;
  } else if (r >= b) {
    q += 1;
    r -= b;
  }
  return r > 0 ? q + 1 : q;
}
