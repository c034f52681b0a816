// The two primitives the chain needs, behind one small interface so the same pure code runs with
// @noble (browser, anywhere) or node:crypto (server/CLI, ~10x faster; see node-crypto.ts).
// Pure module: no Node-only imports.
import * as ed from '@noble/ed25519';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';

// noble's synchronous sign/verify need a SHA-512 implementation plugged in.
ed.hashes.sha512 = sha512;

export interface ChainCrypto {
  sha256(data: Uint8Array): Uint8Array;
  /**
   * Optional fast path: SHA-256 of the UTF-8 encoding of a well-formed string. node:crypto encodes
   * and hashes a string in one native call, which is the verifier's hottest operation.
   */
  sha256Utf8?(text: string): Uint8Array;
  /** Never throws: malformed lengths or encodings are simply `false`. */
  verifyEd25519(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): boolean;
}

/** Something that signs with one Ed25519 key. */
export interface Ed25519Signer {
  readonly publicKey: Uint8Array;
  sign(msg: Uint8Array): Uint8Array;
}

export const pureCrypto: ChainCrypto = {
  sha256: (data) => nobleSha256(data),
  verifyEd25519(sig, msg, publicKey) {
    if (sig.length !== 64 || publicKey.length !== 32) return false;
    try {
      // zip215: false = RFC 8032 strict (canonical encodings), which is what OpenSSL accepts too.
      return ed.verify(sig, msg, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};

/** A pure Ed25519 signer from a 32-byte RFC 8032 seed (the browser, tests, docs). */
export function createPureSigner(privateKeySeed32: Uint8Array): Ed25519Signer {
  if (!(privateKeySeed32 instanceof Uint8Array) || privateKeySeed32.length !== 32) {
    throw new TypeError('Ed25519 seed must be 32 bytes');
  }
  const seed = new Uint8Array(privateKeySeed32);
  const publicKey = ed.getPublicKey(seed);
  return { publicKey, sign: (msg) => ed.sign(msg, seed) };
}
