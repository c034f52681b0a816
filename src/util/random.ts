// Seeded randomness shared by the layers that need reproducible runs (router exploration, the simulated
// fleet). A leaf module: it imports nothing, so anything may depend on it.

/** mulberry32: a small, fast PRNG, reproducible from a 32-bit seed; uniform in [0, 1). Not for secrets. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
