import { describe, expect, it } from 'vitest';
import { callCostMicros, formatMicros, PriceParseError, tokenCostMicros, usdPerTokenToMicrosPerMTok } from '../../src/catalog/prices.js';

describe('usdPerTokenToMicrosPerMTok (OpenRouter pricing strings)', () => {
  it.each([
    ['0.00000015', 150_000], // $0.15 / MTok
    ['0.0000003', 300_000], // float math gives 299999.99999999994
    ['0.0000006', 600_000],
    ['0.000002', 2_000_000],
    ['0.00000014', 140_000],
    ['0.0000000375', 37_500],
    ['0', 0],
    ['0.000', 0],
    ['.000001', 1_000_000],
    ['1.5e-7', 150_000],
    ['3E-6', 3_000_000],
    ['0.000015', 15_000_000],
    ['  0.0000011 ', 1_100_000],
    ['0.0000000000005', 1], // half a micro per MTok rounds up
    ['0.0000000000004', 0],
  ])('%s → %i micros/MTok', (input, expected) => {
    expect(usdPerTokenToMicrosPerMTok(input)).toBe(expected);
  });

  it('accepts a JSON number exactly as its decimal text', () => {
    expect(usdPerTokenToMicrosPerMTok(3e-7)).toBe(300_000);
  });

  it.each([['-1'], [''], ['abc'], ['0.1.2'], ['NaN'], [null], [undefined], [{}], ['1e400']])('rejects %j naming the field', (bad) => {
    expect(() => usdPerTokenToMicrosPerMTok(bad, 'pricing.prompt')).toThrow(PriceParseError);
    expect(() => usdPerTokenToMicrosPerMTok(bad, 'pricing.prompt')).toThrow(/pricing\.prompt/);
  });
});

describe('cost math in integer micros', () => {
  it('charges tokens × price / 1e6, rounded up to the micro', () => {
    expect(tokenCostMicros(1_000_000, 150_000)).toBe(150_000);
    expect(tokenCostMicros(1, 150_000)).toBe(1); // 0.15 micro → 1
    expect(tokenCostMicros(1000, 150_000)).toBe(150);
    expect(tokenCostMicros(1001, 150_000)).toBe(151); // 150.15 → 151
    expect(tokenCostMicros(0, 150_000)).toBe(0);
    expect(tokenCostMicros(5000, 0)).toBe(0);
  });

  it('stays exact and safe for large token counts and prices', () => {
    const cost = tokenCostMicros(12_345_678, 60_000_000);
    expect(cost).toBe(740_740_680);
    expect(Number.isSafeInteger(tokenCostMicros(2_000_000_000, 9_000_000_000))).toBe(true);
  });

  it('sums input and output at their own prices', () => {
    const price = { inputPerMTokMicros: 400_000, outputPerMTokMicros: 1_200_000 };
    // 2500 in × 0.4 = 1000; 800 out × 1.2 = 960
    expect(callCostMicros(2500, 800, price)).toBe(1960);
  });

  it('formats micros as dollars without floats', () => {
    expect(formatMicros(1_960)).toBe('$0.001960');
    expect(formatMicros(12_345_678)).toBe('$12.345678');
    expect(formatMicros(-5)).toBe('-$0.000005');
  });
});
