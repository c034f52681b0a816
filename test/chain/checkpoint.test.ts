// C2SP signed-note / tlog-checkpoint: the Go sumdb/note known answer, key ids, round trips, strict parsing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CheckpointError,
  formatCheckpointBody,
  noteKeyId,
  noteVerifierKey,
  parseCheckpoint,
  parseNote,
  parseNoteVerifierKey,
  signNote,
  verifyCheckpoint,
} from '../../src/chain/checkpoint.js';
import { createPureSigner, pureCrypto } from '../../src/chain/crypto.js';
import { fromBase64, toBase64, toHex } from '../../src/chain/encoding.js';
import { createNodeSigner, nodeCrypto } from '../../src/chain/node-crypto.js';

const go = JSON.parse(readFileSync(new URL('../vectors/signed-note-go.json', import.meta.url), 'utf8')) as {
  signerKey: string;
  verifierKey: string;
  name: string;
  text: string;
  note: string;
};

/** PRIVATE+KEY+<name>+<hex id>+base64(0x01 ‖ seed) -> seed (the base64 may itself contain '+'). */
function seedFromGoSignerKey(skey: string): Uint8Array {
  const parts = skey.split('+');
  const raw = fromBase64(parts.slice(4).join('+'));
  expect(raw[0]).toBe(1);
  return raw.slice(1);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof CheckpointError ? err.code : `other: ${String(err)}`;
  }
}

describe('golang.org/x/mod/sumdb/note known answer (PeterNeumann)', () => {
  const seed = seedFromGoSignerKey(go.signerKey);

  it('derives the published verifier key and key id from the signer key', () => {
    for (const signer of [createPureSigner(seed), createNodeSigner(seed)]) {
      expect(noteVerifierKey(go.name, signer.publicKey)).toBe(go.verifierKey);
      expect(toHex(noteKeyId(go.name, signer.publicKey, nodeCrypto))).toBe('c74f20a3');
    }
  });

  it('signs the text into the exact published note', () => {
    expect(signNote(go.text, go.name, createPureSigner(seed))).toBe(go.note);
    expect(signNote(go.text, go.name, createNodeSigner(seed), nodeCrypto)).toBe(go.note);
  });

  it('parses the verifier key and the note', () => {
    const vk = parseNoteVerifierKey(go.verifierKey);
    expect(vk.name).toBe('PeterNeumann');
    expect(toHex(vk.keyId)).toBe('c74f20a3');
    const { text, signatures } = parseNote(go.note);
    expect(text).toBe(go.text);
    expect(signatures).toHaveLength(1);
    expect(signatures[0]!.name).toBe('PeterNeumann');
    expect(toHex(signatures[0]!.keyId)).toBe('c74f20a3');
    expect(pureCrypto.verifyEd25519(signatures[0]!.sig, new TextEncoder().encode(text), vk.publicKey)).toBe(true);
  });

  it('rejects mangled verifier keys', () => {
    const bad = [
      go.verifierKey.replace('c74f20a3', 'c74f20a4'),
      go.verifierKey.replace('PeterNeumann', 'PeterNeumanm'),
      go.verifierKey.replace('+ARpc', '+AhRpc'),
      go.verifierKey.replace('+ARpc', '+Apc'),
      go.verifierKey.slice(0, -1),
      'PeterNeumann+c74f20a3',
      'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      go.verifierKey.replace('c74f20a3', 'C74F20A3'),
    ];
    for (const k of bad) expect(codeOf(() => parseNoteVerifierKey(k)), k).toBe('bad_key');
  });
});

describe('checkpoints', () => {
  const signer = createPureSigner(new Uint8Array(32).fill(7));
  const other = createPureSigner(new Uint8Array(32).fill(8));
  const origin = 'ainfera.test/chain';
  const key = { name: origin, publicKey: signer.publicKey };
  const root = pureCrypto.sha256(new Uint8Array([1, 2, 3]));

  it('formats the tlog-checkpoint body (with and without the time extension line)', () => {
    expect(formatCheckpointBody({ origin, size: 0, rootHash: root })).toBe(`${origin}\n0\n${toBase64(root)}\n`);
    expect(formatCheckpointBody({ origin, size: 12, rootHash: root, time: '2026-11-24T13:12:10.123Z' })).toBe(
      `${origin}\n12\n${toBase64(root)}\ntime 2026-11-24T13:12:10.123Z\n`,
    );
  });

  it('round-trips: sign, parse, verify (with both back ends)', () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (size, rootHash, withTime) => {
        const time = withTime ? '2026-11-24T13:12:10.123Z' : undefined;
        const body = formatCheckpointBody({ origin, size, rootHash, ...(time ? { time } : {}) });
        const note = signNote(body, origin, signer);
        for (const c of [pureCrypto, nodeCrypto]) {
          const cp = verifyCheckpoint(note, [key], c, { origin });
          expect(cp.size).toBe(size);
          expect(cp.rootHash).toEqual(rootHash);
          expect(cp.time).toBe(time);
          expect(cp.origin).toBe(origin);
          expect(cp.body).toBe(body);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('signs the note text bytes exactly (Ed25519 over the body, key id from name + key)', () => {
    const body = formatCheckpointBody({ origin, size: 5, rootHash: root });
    const note = signNote(body, origin, signer);
    const sigLine = note.slice(body.length + 1);
    expect(sigLine.startsWith(`— ${origin} `)).toBe(true);
    const raw = fromBase64(sigLine.slice(`— ${origin} `.length, -1));
    expect(raw.length).toBe(68);
    expect(raw.slice(0, 4)).toEqual(noteKeyId(origin, signer.publicKey));
    expect(pureCrypto.verifyEd25519(raw.slice(4), new TextEncoder().encode(body), signer.publicKey)).toBe(true);
  });

  it('verification rules: unknown keys ignored, a failing known key rejects, a trusted signature is required', () => {
    const body = formatCheckpointBody({ origin, size: 5, rootHash: root });
    const mine = signNote(body, origin, signer);
    const theirs = signNote(body, 'witness.example/w1', other);
    const both = mine + theirs.slice(theirs.lastIndexOf('\n\n') + 2);
    expect(verifyCheckpoint(both, [key]).verifiedBy).toHaveLength(1);
    // Only an unknown signer.
    expect(codeOf(() => verifyCheckpoint(theirs, [key]))).toBe('no_trusted_signature');
    // Same name, other key (key id differs): ignored, so nothing trusted signed.
    expect(codeOf(() => verifyCheckpoint(signNote(body, origin, other), [key]))).toBe('no_trusted_signature');
    // Known key, altered body.
    const altered = mine.replace(`\n5\n`, `\n6\n`);
    expect(codeOf(() => verifyCheckpoint(altered, [key]))).toBe('bad_signature');
    // Known key, forged signature bytes.
    const lines = mine.split('\n');
    const sigLine = lines[lines.length - 2]!;
    const raw = fromBase64(sigLine.split(' ')[2]!);
    raw[10]! ^= 1;
    const forged = mine.replace(sigLine, `— ${origin} ${toBase64(raw)}`);
    expect(codeOf(() => verifyCheckpoint(forged, [key]))).toBe('bad_signature');
    expect(codeOf(() => verifyCheckpoint(mine, [key], pureCrypto, { origin: 'other.example/log' }))).toBe('origin_mismatch');
  });

  it('strict parsing', () => {
    const good = signNote(formatCheckpointBody({ origin, size: 5, rootHash: root }), origin, signer);
    const cases: [string, string][] = [
      ['no trailing newline', good.slice(0, -1)],
      ['no blank line', good.replace('\n\n', '\n')],
      ['leading zero size', good.replace('\n5\n', '\n05\n')],
      ['negative size', good.replace('\n5\n', '\n-5\n')],
      ['short root', good.replace(toBase64(root), toBase64(root.slice(0, 31)))],
      ['control character', good.replace(origin, `${origin}\t`)],
      ['CRLF', good.replace(/\n/g, '\r\n')],
      ['bad signature line', good.replace('— ', '- ')],
      ['missing size line', signNote(`${origin}\n${toBase64(root)}\n`, origin, signer)],
      ['empty extension line', good.replace(`${toBase64(root)}\n`, `${toBase64(root)}\n\nx\n`)],
      ['bad time extension', signNote(`${origin}\n5\n${toBase64(root)}\ntime yesterday\n`, origin, signer)],
      ['huge size', good.replace('\n5\n', '\n99999999999999999999\n')],
    ];
    for (const [label, text] of cases) {
      expect(codeOf(() => parseCheckpoint(text)), label).toMatch(/^malformed_/);
    }
  });

  it('keeps unknown extension lines and ignores them for the tree head', () => {
    const body = `${origin}\n5\n${toBase64(root)}\nfoo bar\ntime 2026-01-01T00:00:00Z\n`;
    const cp = verifyCheckpoint(signNote(body, origin, signer), [key]);
    expect(cp.extensions).toEqual(['foo bar']);
    expect(cp.time).toBe('2026-01-01T00:00:00Z');
  });

  it('refuses to format or sign invalid input', () => {
    expect(codeOf(() => formatCheckpointBody({ origin: 'has space', size: 1, rootHash: root }))).toBe('malformed_checkpoint');
    expect(codeOf(() => formatCheckpointBody({ origin: 'a+b', size: 1, rootHash: root }))).toBe('malformed_checkpoint');
    expect(codeOf(() => formatCheckpointBody({ origin, size: 1.5, rootHash: root }))).toBe('malformed_checkpoint');
    expect(codeOf(() => formatCheckpointBody({ origin, size: 1, rootHash: root.slice(1) }))).toBe('malformed_checkpoint');
    expect(codeOf(() => formatCheckpointBody({ origin, size: 1, rootHash: root, time: 'now' }))).toBe('malformed_checkpoint');
    expect(codeOf(() => signNote('no newline', origin, signer))).toBe('malformed_note');
    expect(codeOf(() => noteKeyId('bad name', signer.publicKey))).toBe('bad_key');
  });
});
