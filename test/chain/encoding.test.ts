import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EncodingError,
  fromBase64,
  fromHex0x,
  isHex0x,
  isWellFormedString,
  toBase64,
  toHex0x,
  utf8Decode,
  utf8Encode,
} from '../../src/chain/encoding.js';

describe('hex', () => {
  it('round-trips and matches Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const s = toHex0x(b);
        expect(s).toBe('0x' + Buffer.from(b).toString('hex'));
        expect(fromHex0x(s)).toEqual(b);
      }),
    );
  });

  it.each(['', 'ab', '0X00', '0xAB', '0xa', '0xzz', ' 0x00', '0x00 '])('rejects %j', (s) => {
    expect(() => fromHex0x(s)).toThrow(EncodingError);
  });

  it('checks the expected length', () => {
    expect(() => fromHex0x('0x00', 32)).toThrow(/expected 32 bytes/);
    expect(isHex0x('0x' + '0'.repeat(64), 32)).toBe(true);
    expect(isHex0x('0x' + 'A'.repeat(64), 32)).toBe(false);
    expect(isHex0x('0x' + '0'.repeat(62), 32)).toBe(false);
  });
});

describe('base64', () => {
  it('round-trips and matches Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const s = toBase64(b);
        expect(s).toBe(Buffer.from(b).toString('base64'));
        expect(fromBase64(s)).toEqual(b);
      }),
    );
  });

  it.each([
    ['no padding', 'AA'],
    ['white space', 'AA A='],
    ['newline', 'AAAA\n'],
    ['url alphabet', 'A-_A'],
    ['padding in the middle', 'AA==AAAA'],
    ['non-canonical trailing bits', 'AB=='],
    ['non-canonical trailing bits (1 pad)', 'AAB='],
    ['non-ascii', 'AAA\u00e9'],
  ])('rejects %s', (_l, s) => {
    expect(() => fromBase64(s)).toThrow(EncodingError);
  });

  it('checks the expected length', () => {
    expect(() => fromBase64('AAAA', 32)).toThrow(/expected 32 bytes/);
  });
});

describe('utf8', () => {
  it('round-trips well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(utf8Decode(utf8Encode(s))).toBe(s);
        expect(isWellFormedString(s)).toBe(true);
      }),
    );
  });

  it('decoding is strict', () => {
    expect(() => utf8Decode(new Uint8Array([0xc3]))).toThrow(EncodingError);
    expect(() => utf8Decode(new Uint8Array([0xed, 0xa0, 0x80]))).toThrow(EncodingError);
  });

  it('finds lone surrogates', () => {
    expect(isWellFormedString('a\ud83d\ude00b')).toBe(true);
    expect(isWellFormedString('a\ud83d')).toBe(false);
    expect(isWellFormedString('\ude00a')).toBe(false);
  });
});
