// What an attempt the caller aborted after the request went out is billed (the gateway caps it at the hold).
import { describe, expect, it } from 'vitest';
import { callCostMicros } from '../../src/catalog/prices.js';
import { abortedAttemptCost } from '../../src/routing/execute.js';

const price = { inputPerMTokMicros: 600_000, outputPerMTokMicros: 2_200_000 };

describe('abortedAttemptCost', () => {
  it('uses the usage the provider reported when it sent any', () => {
    const r = abortedAttemptCost({ inputTokens: 120, outputTokens: 33 }, 999, 4_000, price);
    expect(r).toEqual({ usage: { inputTokens: 120, outputTokens: 33 }, costMicros: callCostMicros(120, 33, price) });
  });

  it('else bills the estimated input plus the forwarded output at 4 characters a token, rounded up', () => {
    const r = abortedAttemptCost(null, 50, 9, price);
    expect(r.usage).toEqual({ inputTokens: 50, outputTokens: 3 });
    expect(r.costMicros).toBe(callCostMicros(50, 3, price));
    expect(Number.isSafeInteger(r.costMicros)).toBe(true);
    expect(abortedAttemptCost(null, 50, 0, price).usage.outputTokens).toBe(0);
  });
});
