// RFC 9162 §2.1.1 hashing: domain-separated leaf and interior-node hashes, so a leaf can never be
// passed off as a node (second-preimage protection). Pure module.
import { pureCrypto, type ChainCrypto } from './crypto.js';

export const LEAF_PREFIX = 0x00;
export const NODE_PREFIX = 0x01;
export const HASH_SIZE = 32;

/** SHA-256(0x00 ‖ canonical entry bytes). */
export function leafHash(canonicalBytes: Uint8Array, c: ChainCrypto = pureCrypto): Uint8Array {
  const buf = new Uint8Array(canonicalBytes.length + 1);
  buf[0] = LEAF_PREFIX;
  buf.set(canonicalBytes, 1);
  return c.sha256(buf);
}

// Scratch buffer for leafHashOfString: encode straight after the 0x00 prefix, no intermediate copies.
// Safe to reuse: both hash back ends consume their input synchronously and keep no reference.
let scratch = new Uint8Array(4096);
const encoder = new TextEncoder();

/** leafHash of the UTF-8 bytes of a canonical JSON string (the verifier's hot path). */
export function leafHashOfString(canonical: string, c: ChainCrypto = pureCrypto): Uint8Array {
  // '\u0000' encodes to the single byte 0x00: the leaf prefix. (Canonical strings are well-formed, so
  // the native UTF-8 encoder has no lone surrogate to replace.)
  if (c.sha256Utf8) return c.sha256Utf8(`\u0000${canonical}`);
  const max = canonical.length * 3 + 1; // UTF-16 unit -> at most 3 UTF-8 bytes
  if (scratch.length < max) scratch = new Uint8Array(Math.max(max, scratch.length * 2));
  scratch[0] = LEAF_PREFIX;
  const { written } = encoder.encodeInto(canonical, scratch.subarray(1));
  return c.sha256(scratch.subarray(0, 1 + written));
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array, c: ChainCrypto = pureCrypto): Uint8Array {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return c.sha256(buf);
}

/** Root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(c: ChainCrypto = pureCrypto): Uint8Array {
  return c.sha256(new Uint8Array(0));
}
