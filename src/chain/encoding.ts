// Byte <-> text encodings used by the chain format: `0x` + lowercase hex, RFC 4648 §4 base64, UTF-8.
// Pure module (no Buffer, no node:*): the browser verifier imports it. Decoders are strict, because a
// lenient decoder would let two different strings stand for the same bytes on a signed, public log.

/** Thrown for text that is not the exact encoding we expect. The message says what was wrong. */
export class EncodingError extends Error {
  override readonly name = 'EncodingError';
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

/** `0x` + lowercase hex. */
export function toHex0x(bytes: Uint8Array): string {
  let out = '0x';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Plain lowercase hex (no prefix). */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

function hexNibble(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/** Lowercase hex (no prefix) to bytes; throws on anything else. */
export function fromHex(str: string, expectedLength?: number): Uint8Array {
  if (typeof str !== 'string') throw new EncodingError('hex: not a string');
  if (str.length % 2 !== 0) throw new EncodingError('hex: odd number of digits');
  const out = new Uint8Array(str.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(str.charCodeAt(2 * i));
    const lo = hexNibble(str.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new EncodingError('hex: only lowercase 0-9a-f allowed');
    out[i] = (hi << 4) | lo;
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new EncodingError(`hex: expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

/** `0x` + lowercase hex to bytes; throws on a missing prefix, uppercase, odd length or a wrong length. */
export function fromHex0x(str: string, expectedLength?: number): Uint8Array {
  if (typeof str !== 'string' || !str.startsWith('0x')) throw new EncodingError('hex: must start with 0x');
  return fromHex(str.slice(2), expectedLength);
}

const LOWER_HEX = /^0x[0-9a-f]*$/;

/** True for `0x` + exactly 2*n lowercase hex digits. */
export function isHex0x(str: unknown, byteLength: number): str is string {
  return typeof str === 'string' && str.length === 2 + 2 * byteLength && LOWER_HEX.test(str);
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return out;
}

function b64Value(str: string, i: number): number {
  const code = str.charCodeAt(i);
  const v = code < 128 ? B64_INDEX[code]! : -1;
  if (v < 0) throw new EncodingError(`base64: invalid character at ${i}`);
  return v;
}

/**
 * Strict standard base64: padded to a multiple of 4, alphabet A-Z a-z 0-9 + /, no white space, and the
 * unused low bits of the last group zero (so each byte string has exactly one accepted encoding).
 */
export function fromBase64(str: string, expectedLength?: number): Uint8Array {
  if (typeof str !== 'string') throw new EncodingError('base64: not a string');
  if (str.length % 4 !== 0) throw new EncodingError('base64: length is not a multiple of 4');
  let pad = 0;
  if (str.endsWith('==')) pad = 2;
  else if (str.endsWith('=')) pad = 1;
  const out = new Uint8Array((str.length / 4) * 3 - pad);
  const full = pad === 0 ? str.length : str.length - 4;
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const n = (b64Value(str, i) << 18) | (b64Value(str, i + 1) << 12) | (b64Value(str, i + 2) << 6) | b64Value(str, i + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (pad === 2) {
    const a = b64Value(str, full);
    const b = b64Value(str, full + 1);
    if ((b & 15) !== 0) throw new EncodingError('base64: non-canonical final group');
    out[o++] = (a << 2) | (b >> 4);
  } else if (pad === 1) {
    const a = b64Value(str, full);
    const b = b64Value(str, full + 1);
    const c = b64Value(str, full + 2);
    if ((c & 3) !== 0) throw new EncodingError('base64: non-canonical final group');
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new EncodingError(`base64: expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Encode(str: string): Uint8Array {
  return encoder.encode(str);
}

/** Strict UTF-8 decode: throws on malformed bytes instead of substituting U+FFFD. A leading BOM is kept. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new EncodingError('utf-8: malformed byte sequence');
  }
}

/** True if the string has no lone UTF-16 surrogate (i.e. it encodes to UTF-8 and back unchanged). */
const ANY_SURROGATE = /[\ud800-\udfff]/;

export function isWellFormedString(str: string): boolean {
  if (!ANY_SURROGATE.test(str)) return true; // the common case, checked natively
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = str.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
