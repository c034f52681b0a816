// One seeded PRNG for the whole code base: the router's exploration and the simulated fleet use the same
// function (src/util/random.ts), so a seed means the same sequence everywhere.
import { describe, expect, it } from 'vitest';
import { createRng as simRng } from '../../src/providers/sim-text.js';
import { seededRandom } from '../../src/routing/router.js';
import { createRng } from '../../src/util/random.js';

describe('createRng', () => {
  it('is the one implementation behind the router and the simulated fleet', () => {
    expect(seededRandom).toBe(createRng);
    expect(simRng).toBe(createRng);
  });

  it('is mulberry32: reproducible from a seed, uniform in [0, 1)', () => {
    const a = createRng(1);
    // mulberry32 for seed 1 (the first is the well-known 0.6270739405881613).
    expect([a(), a(), a()].map((x) => Math.round(x * 2 ** 32))).toEqual([2693262067, 11749833, 2265367787]);
    const b = createRng(0x5eed);
    const c = createRng(0x5eed);
    for (let i = 0; i < 1000; i++) {
      const x = b();
      expect(c()).toBe(x);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});
