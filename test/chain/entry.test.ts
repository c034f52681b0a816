// Entry building and validation, encoding and sealing.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { createPureSigner, pureCrypto } from '../../src/chain/crypto.js';
import { fromBase64, fromHex0x, toHex0x, utf8Encode } from '../../src/chain/encoding.js';
import {
  ENTRY_SIG_DOMAIN,
  EntryValidationError,
  buildEntry,
  encodeEntry,
  entryFormatProblem,
  entrySigningMessage,
} from '../../src/chain/entry.js';
import { leafHash } from '../../src/chain/hash.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { deriveEntryKeyId, sealEntry } from '../../src/chain/sign.js';
import { GENESIS_PREV, type EventInput } from '../../src/chain/types.js';

const T = '2026-11-24T13:12:10.123Z';
const P = `0x${'ab'.repeat(32)}`;
const base: EventInput = { kind: 'routed', agent: 'ada', decision: 'dec_1', model: 'm', provider: 'p', fields: { costMicros: 1200, reason: 'cheapest' } };

function errorOf(fn: () => unknown): EntryValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EntryValidationError) return err;
    throw err;
  }
  throw new Error('expected an EntryValidationError');
}

describe('buildEntry', () => {
  it('builds the signed object with the sequencer fields and flattened kind-specific fields', () => {
    expect(buildEntry(base, 3, T, P)).toEqual({
      v: 1,
      seq: 3,
      time: T,
      kind: 'routed',
      agent: 'ada',
      decision: 'dec_1',
      model: 'm',
      provider: 'p',
      prev: P,
      costMicros: 1200,
      reason: 'cheapest',
    });
    const minimal = buildEntry({ kind: 'request', agent: 'a', decision: 'd' }, 0, T, GENESIS_PREV);
    expect(Object.keys(minimal).sort()).toEqual(['agent', 'decision', 'kind', 'prev', 'seq', 'time', 'v']);
  });

  it.each([
    ['reserved name', { ...base, fields: { seq: 5 } }, 'fields.seq', 'reserved'],
    ['reserved hash', { ...base, fields: { hash: 'x' } }, 'fields.hash', 'reserved'],
    ['fraction', { ...base, fields: { costMicros: 1.5 } }, 'fields.costMicros', 'not_integer'],
    ['unsafe integer', { ...base, fields: { n: 2 ** 60 } }, 'fields.n', 'not_integer'],
    ['NaN', { ...base, fields: { n: NaN } }, 'fields.n', 'not_integer'],
    ['nested object', { ...base, fields: { o: { a: 1 } } }, 'fields.o', 'type'],
    ['boolean', { ...base, fields: { ok: true } }, 'fields.ok', 'type'],
    ['null', { ...base, fields: { x: null } }, 'fields.x', 'type'],
    ['bad name', { ...base, fields: { 'Bad-Name': 1 } }, 'fields.Bad-Name', 'format'],
    ['proto name', { ...base, fields: JSON.parse('{"__proto__": 1}') as Record<string, number> }, 'fields.__proto__', 'format'],
    ['long string', { ...base, fields: { s: 'x'.repeat(2000) } }, 'fields.s', 'too_long'],
    ['lone surrogate', { ...base, fields: { s: '\ud800' } }, 'fields.s', 'format'],
    ['missing agent', { ...base, agent: undefined }, 'agent', 'required'],
    ['empty decision', { ...base, decision: '' }, 'decision', 'required'],
    ['numeric agent', { ...base, agent: 5 }, 'agent', 'type'],
    ['bad kind', { ...base, kind: 'Routed!' }, 'kind', 'format'],
    ['numeric model', { ...base, model: 1 }, 'model', 'type'],
  ])('rejects %s naming the field', (_label, input, field, code) => {
    const err = errorOf(() => buildEntry(input as EventInput, 1, T, P));
    expect(err.field).toBe(field);
    expect(err.code).toBe(code);
    expect(err.message).toContain(field);
  });

  it.each([
    ['seq', () => buildEntry(base, -1, T, P)],
    ['seq', () => buildEntry(base, 1.5, T, P)],
    ['time', () => buildEntry(base, 1, '2026-11-24T13:12:10Z', P)],
    ['time', () => buildEntry(base, 1, '2026-02-30T13:12:10.123Z', P)],
    ['time', () => buildEntry(base, 1, '2026-11-24T13:12:10.123+01:00', P)],
    ['prev', () => buildEntry(base, 1, T, P.toUpperCase())],
    ['prev', () => buildEntry(base, 1, T, '0x00')],
    ['prev', () => buildEntry(base, 0, T, P)],
  ])('rejects a bad %s', (field, fn) => {
    expect(errorOf(fn).field).toBe(field);
  });

  it('accepts negative integers and normalizes -0', () => {
    const e = buildEntry({ ...base, fields: { delta: -5, z: -0 } }, 1, T, P);
    expect(e.delta).toBe(-5);
    expect(Object.is(e.z, 0)).toBe(true);
  });

  it('entryFormatProblem accepts what buildEntry builds (incl. unknown kinds) and names problems', () => {
    expect(entryFormatProblem(buildEntry({ ...base, kind: 'some_future_kind' }, 1, T, P))).toBeUndefined();
    expect(entryFormatProblem({ ...buildEntry(base, 1, T, P), v: 2 })).toMatch(/version/);
    expect(entryFormatProblem({ ...buildEntry(base, 1, T, P), x: 1.5 })).toMatch(/field x/);
    expect(entryFormatProblem({ ...buildEntry(base, 1, T, P), hash: P })).toMatch(/envelope/);
    expect(entryFormatProblem({ ...buildEntry(base, 1, T, P), time: 'yesterday' })).toMatch(/time/);
  });
});

describe('encoding and sealing', () => {
  it('encodeEntry is RFC 8785 of the entry, and a fixed point through JSON', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,10}$/), fc.oneof(fc.string({ maxLength: 40 }), fc.maxSafeInteger(), fc.integer())),
        (fields) => {
          const clean = Object.fromEntries(Object.entries(fields).filter(([k]) => !['v', 'seq', 'time', 'kind', 'agent', 'decision', 'model', 'provider', 'prev', 'hash', 'sig', 'keyId'].includes(k)));
          const e = buildEntry({ ...base, fields: clean }, 9, T, P);
          const { canonical, bytes } = encodeEntry(e);
          expect(canonical).toBe(canonicalize(e));
          expect(bytes).toEqual(utf8Encode(canonical));
          expect(encodeEntry(JSON.parse(canonical)).canonical).toBe(canonical);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('signing message is the domain string then the 32 hash bytes', () => {
    const h = new Uint8Array(32).fill(9);
    const msg = entrySigningMessage(h);
    expect(ENTRY_SIG_DOMAIN).toBe('ainfera/entry/v1\n');
    expect(new TextDecoder().decode(msg.slice(0, 17))).toBe(ENTRY_SIG_DOMAIN);
    expect(msg.slice(17)).toEqual(h);
    expect(() => entrySigningMessage(new Uint8Array(31))).toThrow(TypeError);
  });

  it('sealEntry: hash = SHA-256(0x00 ‖ JCS), sig verifies over the domain message, same with either crypto', () => {
    const signer = createPureSigner(new Uint8Array(32).fill(1));
    const keyId = deriveEntryKeyId(signer.publicKey);
    const e = buildEntry(base, 0, T, GENESIS_PREV);
    const a = sealEntry(e, { keyId, sign: signer.sign }, pureCrypto);
    const b = sealEntry(e, { keyId, sign: signer.sign }, nodeCrypto);
    expect(b).toEqual(a);
    expect(a.hash).toBe(toHex0x(leafHash(utf8Encode(a.canonical))));
    expect(a.envelope).toEqual({ entry: e, hash: a.hash, sig: a.envelope.sig, keyId });
    expect(pureCrypto.verifyEd25519(fromBase64(a.envelope.sig), entrySigningMessage(fromHex0x(a.hash)), signer.publicKey)).toBe(true);
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('entry times', () => {
  it('accepts exactly the instants toISOString writes', async () => {
    const { entryTimeMs } = await import('../../src/chain/entry.js');
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        expect(entryTimeMs(d.toISOString())).toBe(d.getTime());
      }),
      { numRuns: 300 },
    );
    for (const bad of ['2026-02-29T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-00-10T00:00:00.000Z', '2026-01-00T00:00:00.000Z', '2026-01-01T23:60:00.000Z', '2026-01-01T23:59:60.000Z', '2100-02-29T00:00:00.000Z']) {
      expect(entryTimeMs(bad), bad).toBeNaN();
    }
    expect(entryTimeMs('2024-02-29T00:00:00.000Z')).toBe(Date.parse('2024-02-29T00:00:00.000Z'));
    expect(entryTimeMs('2000-02-29T00:00:00.000Z')).toBe(Date.parse('2000-02-29T00:00:00.000Z'));
  });

  it('agrees with Date.parse and a calendar check on years 0000-9999 and on near-miss strings', async () => {
    const { entryTimeMs, ENTRY_TIME_PATTERN } = await import('../../src/chain/entry.js');
    // The reference: the pattern, Date.parse, and a round trip through toISOString (which rejects
    // Date.parse's roll-overs such as 02-30 or 24:00).
    const reference = (t: string): number => {
      if (!ENTRY_TIME_PATTERN.test(t)) return NaN;
      const ms = Date.parse(t);
      return Number.isFinite(ms) && new Date(ms).toISOString() === t ? ms : NaN;
    };
    fc.assert(
      fc.property(fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        expect(entryTimeMs(d.toISOString())).toBe(d.getTime());
      }),
      { numRuns: 500 },
    );
    const digit = fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '9');
    const piece = (n: number) => fc.array(digit, { minLength: n, maxLength: n }).map((a) => a.join(''));
    const nearMiss = fc
      .tuple(piece(4), piece(2), piece(2), piece(2), piece(2), piece(2), piece(3), fc.constantFrom('Z', 'Z', 'Z', 'z', '+'), fc.constantFrom('T', 'T', 't', ' '), fc.constantFrom('', '', '', '0', '\n'))
      .map(([y, mo, d, h, mi, s, ms, z, t, extra]) => `${y}-${mo}-${d}${t}${h}:${mi}:${s}.${ms}${z}${extra}`);
    fc.assert(
      fc.property(nearMiss, (t) => {
        expect(entryTimeMs(t), t).toBe(reference(t));
      }),
      { numRuns: 3000 },
    );
    for (const t of ['2026-11-24T13:12:10.123Z', '2026-11-24T13:12:10.12Z', '2026-11-24T13:12:10.1234Z', '２026-11-24T13:12:10.123Z', '-2026-11-24T13:12:10.123Z', '2026/11/24T13:12:10.123Z', ' 2026-11-24T13:12:10.123Z']) {
      expect(entryTimeMs(t), t).toBe(reference(t));
    }
    expect(entryTimeMs(20261124)).toBeNaN();
  });
});
