// node:crypto implementation of ChainCrypto plus an Ed25519 signer: the server and CLI use these
// (OpenSSL is ~10x faster than @noble here). Signatures are byte-identical to noble's (Ed25519 is
// deterministic; test/chain/ed25519.test.ts checks both against RFC 8032). Node only.
import { createHash, createPrivateKey, createPublicKey, hash as oneShotHash, sign, verify, type KeyObject } from 'node:crypto';
import type { ChainCrypto, Ed25519Signer } from './crypto.js';

// DER prefixes that wrap raw Ed25519 keys (RFC 8410): SPKI for a 32-byte public key, PKCS#8 for a seed.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

function withPrefix(prefix: Uint8Array, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + raw.length);
  out.set(prefix);
  out.set(raw, prefix.length);
  return out;
}

/** A plain Uint8Array view of a Buffer (no copy), so callers never depend on Buffer. */
function view(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// Public keys are few (the current key and a handful of retired ones); parsing DER each time would
// dominate a verify, so cache KeyObjects by the raw key. Bounded so hostile input cannot grow it.
const keyCache = new Map<string, KeyObject | null>();
const KEY_CACHE_MAX = 256;

function publicKeyObject(publicKey: Uint8Array): KeyObject | null {
  const id = String.fromCharCode(...publicKey);
  let key = keyCache.get(id);
  if (key !== undefined) return key;
  try {
    key = createPublicKey({ key: Buffer.from(withPrefix(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' });
  } catch {
    key = null;
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(id, key);
  return key;
}

/** Digest bytes from a 'binary' (latin1) digest string: cheaper than allocating a Buffer for 32 bytes. */
function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = s.charCodeAt(i);
  return out;
}

// crypto.hash (one-shot, Node >= 20.12) avoids a Hash object per call; createHash is the fallback.
const sha256: (data: Uint8Array | string) => Uint8Array =
  typeof oneShotHash === 'function'
    ? (data) => latin1Bytes(oneShotHash('sha256', data, 'binary'))
    : (data) => view(createHash('sha256').update(data).digest());

export const nodeCrypto: ChainCrypto = {
  sha256,
  sha256Utf8: sha256,
  verifyEd25519(sig, msg, publicKey) {
    if (sig.length !== 64 || publicKey.length !== 32) return false;
    const key = publicKeyObject(publicKey);
    if (!key) return false;
    try {
      return verify(null, msg, key, sig);
    } catch {
      return false;
    }
  },
};

/** An Ed25519 signer from a 32-byte RFC 8032 seed, backed by OpenSSL. */
export function createNodeSigner(privateKeySeed32: Uint8Array): Ed25519Signer {
  if (!(privateKeySeed32 instanceof Uint8Array) || privateKeySeed32.length !== 32) {
    throw new TypeError('Ed25519 seed must be 32 bytes');
  }
  const privateKey = createPrivateKey({ key: Buffer.from(withPrefix(PKCS8_PREFIX, privateKeySeed32)), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  return {
    publicKey,
    sign: (msg) => view(sign(null, msg, privateKey)),
  };
}
