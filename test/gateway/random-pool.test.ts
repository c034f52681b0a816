import { describe, expect, it } from 'vitest';
import { randomHex } from '../../src/gateway/random-pool.js';

describe('randomHex', () => {
  it('hands out fresh hex of the asked length, never the same bytes twice, across pool refills', () => {
    const seen = new Set<string>();
    // 3000 x 40 bytes crosses the 4 KB pool many times, including fills that leave a short tail.
    for (let i = 0; i < 3000; i++) {
      const salt = randomHex(32);
      const id = randomHex(8);
      expect(salt).toMatch(/^[0-9a-f]{64}$/);
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      expect(seen.has(salt)).toBe(false);
      seen.add(salt);
    }
    // Not all zeros: the pool is wiped as bytes are taken, so a bug reading taken bytes would show zeros.
    expect([...seen].filter((s) => /^0+$/.test(s))).toHaveLength(0);
    expect(randomHex(4096)).toHaveLength(8192);
  });

  it('refuses a size it cannot serve', () => {
    for (const n of [0, -1, 1.5, 4097]) expect(() => randomHex(n)).toThrow(RangeError);
  });
});
