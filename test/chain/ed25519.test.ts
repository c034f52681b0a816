// RFC 8032 §7.1 test vectors through both crypto back ends, and byte-identical signatures between them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createPureSigner, pureCrypto } from '../../src/chain/crypto.js';
import { fromHex, toHex } from '../../src/chain/encoding.js';
import { createNodeSigner, nodeCrypto } from '../../src/chain/node-crypto.js';

interface Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}
const { vectors } = JSON.parse(readFileSync(new URL('../vectors/ed25519-rfc8032.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

describe('Ed25519 RFC 8032 §7.1 vectors', () => {
  it('has the five published vectors', () => {
    expect(vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']);
    expect(fromHex(vectors[3]!.message).length).toBe(1023);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const seed = fromHex(v.secretKey);
      const msg = fromHex(v.message);
      const pub = fromHex(v.publicKey);
      const sig = fromHex(v.signature);

      it('pure signer derives the public key and the exact signature', () => {
        const s = createPureSigner(seed);
        expect(toHex(s.publicKey)).toBe(v.publicKey);
        expect(toHex(s.sign(msg))).toBe(v.signature);
      });

      it('node signer derives the public key and the exact signature', () => {
        const s = createNodeSigner(seed);
        expect(toHex(s.publicKey)).toBe(v.publicKey);
        expect(toHex(s.sign(msg))).toBe(v.signature);
      });

      for (const [label, c] of [
        ['pureCrypto', pureCrypto],
        ['nodeCrypto', nodeCrypto],
      ] as const) {
        it(`${label} verifies it and rejects tampering`, () => {
          expect(c.verifyEd25519(sig, msg, pub)).toBe(true);
          const badSig = sig.slice();
          badSig[0]! ^= 1;
          expect(c.verifyEd25519(badSig, msg, pub)).toBe(false);
          const badMsg = new Uint8Array([...msg, 0]);
          expect(c.verifyEd25519(sig, badMsg, pub)).toBe(false);
          const otherPub = fromHex(vectors[(vectors.indexOf(v) + 1) % vectors.length]!.publicKey);
          expect(c.verifyEd25519(sig, msg, otherPub)).toBe(false);
        });
      }
    });
  }
});

describe('crypto back ends agree', () => {
  it('signatures are byte-identical between noble and node:crypto for random seeds and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (seed, msg) => {
        const a = createPureSigner(seed);
        const b = createNodeSigner(seed);
        expect(toHex(b.publicKey)).toBe(toHex(a.publicKey));
        const sig = a.sign(msg);
        expect(toHex(b.sign(msg))).toBe(toHex(sig));
        expect(nodeCrypto.verifyEd25519(sig, msg, a.publicKey)).toBe(true);
        expect(pureCrypto.verifyEd25519(sig, msg, a.publicKey)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('sha256 agrees', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
        expect(toHex(nodeCrypto.sha256(data))).toBe(toHex(pureCrypto.sha256(data)));
      }),
      { numRuns: 100 },
    );
    expect(toHex(pureCrypto.sha256(new Uint8Array()))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('malformed inputs verify as false instead of throwing', () => {
    const s = createPureSigner(new Uint8Array(32));
    const sig = s.sign(new Uint8Array([1]));
    for (const c of [pureCrypto, nodeCrypto]) {
      expect(c.verifyEd25519(sig.slice(0, 63), new Uint8Array([1]), s.publicKey)).toBe(false);
      expect(c.verifyEd25519(sig, new Uint8Array([1]), s.publicKey.slice(0, 31))).toBe(false);
      expect(c.verifyEd25519(sig, new Uint8Array([1]), new Uint8Array(32).fill(0xff))).toBe(false);
      // S >= L (non-canonical scalar) is rejected by both (RFC 8032 strict / OpenSSL).
      const big = sig.slice();
      big.fill(0xff, 32);
      expect(c.verifyEd25519(big, new Uint8Array([1]), s.publicKey)).toBe(false);
    }
  });

  it('seeds must be 32 bytes', () => {
    expect(() => createPureSigner(new Uint8Array(31))).toThrow(TypeError);
    expect(() => createNodeSigner(new Uint8Array(33))).toThrow(TypeError);
  });
});
