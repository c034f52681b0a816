// Sealing an entry: canonical bytes -> leaf hash -> Ed25519 signature over the domain-separated hash.
// Pure: the signer is injected (node:crypto on the server, noble in tests and the docs example).
import { pureCrypto, type ChainCrypto } from './crypto.js';
import { toBase64, toHex, toHex0x } from './encoding.js';
import { encodeEntry, entrySigningMessage } from './entry.js';
import { leafHash } from './hash.js';
import type { ChainEntry, Envelope } from './types.js';

export interface EntrySigner {
  /** The envelope's `keyId` (as listed by GET /v1/audit/keys). */
  readonly keyId: string;
  sign(msg: Uint8Array): Uint8Array;
}

export interface SealedEntry {
  envelope: Envelope;
  /** The exact RFC 8785 string that was hashed; store it byte-exact, never re-serialize to verify. */
  canonical: string;
  /** `0x` + hex leaf hash (same as envelope.hash). */
  hash: string;
  /** The 32 leaf-hash bytes (for the Merkle tree). */
  leaf: Uint8Array;
}

export function sealEntry(entry: ChainEntry, signer: EntrySigner, c: ChainCrypto = pureCrypto): SealedEntry {
  const { canonical, bytes } = encodeEntry(entry);
  const leaf = leafHash(bytes, c);
  const sig = signer.sign(entrySigningMessage(leaf));
  if (sig.length !== 64) throw new Error('signer returned a signature that is not 64 bytes');
  const hash = toHex0x(leaf);
  return { envelope: { entry, hash, sig: toBase64(sig), keyId: signer.keyId }, canonical, hash, leaf };
}

/**
 * A key id derived from the public key alone: hex of the first 8 bytes of SHA-256(raw 32-byte key).
 * Same rule as src/chain/keys.ts (entryKeyId), here in pure form for the browser and the docs example.
 * Verifiers never derive key ids: they look them up in GET /v1/audit/keys.
 */
export function deriveEntryKeyId(publicKey: Uint8Array, c: ChainCrypto = pureCrypto): string {
  return toHex(c.sha256(publicKey).subarray(0, 8));
}
