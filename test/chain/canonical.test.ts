// RFC 8785 (JCS) examples from the RFC, and the entry restrictions on top of it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { CanonicalJsonError, canonicalEntryJson, canonicalJson } from '../../src/chain/canonical.js';
import { toHex, utf8Encode } from '../../src/chain/encoding.js';

interface Vectors {
  objects: { name: string; input: string; canonical: string; utf8Hex?: string }[];
  numbers: [string, string][];
  invalidNumbers: string[];
}
const v = JSON.parse(readFileSync(new URL('../vectors/jcs-rfc8785.json', import.meta.url), 'utf8')) as Vectors;

function fromBits(hex: string): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, BigInt(`0x${hex}`));
  return dv.getFloat64(0);
}

describe('RFC 8785 examples', () => {
  for (const o of v.objects) {
    it(o.name, () => {
      const out = canonicalJson(JSON.parse(o.input));
      expect(out).toBe(o.canonical);
      if (o.utf8Hex) expect(toHex(utf8Encode(out))).toBe(o.utf8Hex);
    });
  }

  it('3.2.3 sorts by UTF-16 code units (the emoji before U+FB33)', () => {
    // (Object.keys would list the integer-like key "1" first, so read the order off the text itself.)
    const out = canonicalJson(JSON.parse(v.objects[1]!.input));
    const names = [...out.matchAll(/"((?:[^"\\]|\\.)*)":"/g)].map((m) => JSON.parse(`"${m[1]!}"`) as string);
    expect(names).toEqual(['\r', '1', '\u0080', 'ö', '€', '😀', '\ufb33']);
  });

  it('Appendix B number serialization', () => {
    expect(v.numbers.length).toBe(24);
    for (const [bits, want] of v.numbers) expect(canonicalJson(fromBits(bits)), bits).toBe(want);
  });

  it('NaN and Infinity are rejected', () => {
    for (const bits of v.invalidNumbers) expect(() => canonicalJson(fromBits(bits))).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(-Infinity)).toThrow(CanonicalJsonError);
  });
});

describe('canonicalJson rejects what JSON cannot carry', () => {
  it.each([
    ['lone surrogate', { a: '\ud800' }],
    ['lone surrogate key', { '\udc00': 1 }],
    ['bigint', { a: 1n }],
    ['function', { a: () => 1 }],
    ['Date instance', { a: new Date(0) }],
    ['nested NaN', { a: [1, { b: NaN }] }],
  ])('%s', (_label, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it('cycles', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => canonicalJson(a)).toThrow(/circular/);
  });

  it('matches the canonicalize package on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
        // Canonical form is a fixed point.
        expect(canonicalJson(JSON.parse(canonicalJson(value)))).toBe(canonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });
});

describe('canonicalEntryJson', () => {
  it('accepts strings and safe integers and sorts keys', () => {
    expect(canonicalEntryJson({ seq: 2, kind: 'x', a: -5, z: 'é' })).toBe('{"a":-5,"kind":"x","seq":2,"z":"é"}');
  });

  it.each([
    ['fraction', { cost: 1.5 }, 'cost'],
    ['unsafe integer', { n: 2 ** 53 }, 'n'],
    ['nested object', { o: { a: 1 } }, 'o'],
    ['array', { a: [1] }, 'a'],
    ['boolean', { b: true }, 'b'],
    ['null', { n: null }, 'n'],
    ['lone surrogate', { s: '\ud800x' }, 's'],
  ])('rejects %s naming the field', (_label, entry, field) => {
    try {
      canonicalEntryJson(entry);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CanonicalJsonError);
      expect((err as CanonicalJsonError).path).toBe(field);
    }
  });

  it('rejects non-objects', () => {
    expect(() => canonicalEntryJson([1])).toThrow(CanonicalJsonError);
    expect(() => canonicalEntryJson('x')).toThrow(CanonicalJsonError);
    expect(() => canonicalEntryJson(new Map())).toThrow(CanonicalJsonError);
  });
});

describe('canonicalEntryJson fast path', () => {
  it('equals the canonicalize package on flat string/integer objects', () => {
    const value = fc.oneof(fc.string({ unit: 'grapheme' }), fc.maxSafeInteger(), fc.integer(), fc.constant(-0), fc.constant(Number.MIN_SAFE_INTEGER));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'grapheme' }), value), (obj) => {
        expect(canonicalEntryJson(obj)).toBe(canonicalize(obj));
      }),
      { numRuns: 500 },
    );
    expect(canonicalEntryJson({ 'é': 'x', e: 1, '\u20ac': 2, '😀': 3, '\ufb33': '\u0000"\\' })).toBe(canonicalize({ 'é': 'x', e: 1, '\u20ac': 2, '😀': 3, '\ufb33': '\u0000"\\' }));
  });
});

describe('canonicalEntryJson member-order cache', () => {
  it('never confuses shapes whose names join alike', () => {
    const shapes: Record<string, number>[] = [{ a: 1, b: 2 }, { 'a,b': 3 }, { '': 0 }, {}, { 'a\u0000b': 1 }, { a: 1, b: 2 }, { b: 2, a: 1 }, { 'a,b': 3 }];
    for (const s of shapes) expect(canonicalEntryJson(s)).toBe(canonicalize(s));
  });
});

describe('canonicalEntryJson string and shape fast paths', () => {
  // Characters JSON.stringify escapes, surrogates (paired and lone) and ones it leaves alone.
  const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '\u0000', '\n', '\u001f', ' ', '\u007f', '\u2028', 'é', '😀', '\ud800', '\udfff', 'a', 'Z', '_', '1'), maxLength: 12 });
  const wellFormed = (s: string): boolean => !/(?:[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/.test(s);

  it('equals canonicalize for strings that need escaping, and refuses lone surrogates', () => {
    fc.assert(
      fc.property(fc.dictionary(tricky, fc.oneof(tricky, fc.integer())), (obj) => {
        const ok = Object.entries(obj).every(([k, val]) => wellFormed(k) && (typeof val !== 'string' || wellFormed(val)));
        if (ok) expect(canonicalEntryJson(obj)).toBe(canonicalize(obj));
        else expect(() => canonicalEntryJson(obj)).toThrow(CanonicalJsonError);
      }),
      { numRuns: 1000 },
    );
  });

  it('reuses a shape only for the same member names in the same order', () => {
    // More shapes than the cache holds, each seen in several insertion orders, values changing each time.
    const names = ['agent', 'seq', 'kind', 'zeta', 'a1', 'B', '_x', '10', '2'];
    for (let round = 0; round < 3; round++) {
      for (let mask = 1; mask < 1 << names.length; mask += 3) {
        const keys = names.filter((_, i) => mask & (1 << i));
        for (const order of [keys, [...keys].reverse()]) {
          const obj = Object.fromEntries(order.map((k, i) => [k, i % 2 ? `${k}${round}"` : mask * 7 + i + round]));
          expect(canonicalEntryJson(obj)).toBe(canonicalize(obj));
        }
      }
    }
  });

  it('skips undefined members wherever they sort', () => {
    expect(canonicalEntryJson({ b: 1, a: undefined, c: 'x' })).toBe('{"b":1,"c":"x"}');
    expect(canonicalEntryJson({ a: undefined })).toBe('{}');
    expect(canonicalEntryJson({ a: 1, z: undefined })).toBe('{"a":1}');
  });
});
