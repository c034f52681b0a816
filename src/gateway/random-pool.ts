// Random hex for ids and salts, drawn from a pooled CSPRNG buffer. crypto.randomBytes costs a call into
// the system generator each time (~10 us for 32 bytes here, two per routed call: the decision id and the
// request salt); one 4 KB fill serves ~100 calls. The bytes are the same crypto.randomBytes output, each
// handed out once and wiped from the pool when taken.
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` fresh random bytes as lowercase hex (bytes <= 4096). */
export function randomHex(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > POOL_BYTES) throw new RangeError(`randomHex: bytes must be 1..${POOL_BYTES}`);
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  pool.fill(0, offset, offset + bytes);
  offset += bytes;
  return hex;
}
