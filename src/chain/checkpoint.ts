// Checkpoints as C2SP signed notes (c2sp.org/signed-note) with a tlog-checkpoint body
// (c2sp.org/tlog-checkpoint), so existing transparency-log tooling (golang.org/x/mod/sumdb/note,
// transparency-dev/formats, sigsum, witnesses) can read and verify them:
//
//   <origin>\n<tree size>\n<base64 root hash>\n[time <RFC 3339>\n]   <- note text (signed bytes)
//   \n                                                                <- blank line
//   — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>\n
//
// The time rides in one extension line `time <RFC 3339 UTC>`. The spec allows opaque non-empty
// extension lines but does not recommend them (monitors cannot audit them); tools that do not know
// the line ignore it, and the tree head itself is untouched. Pure module.
import { pureCrypto, type ChainCrypto, type Ed25519Signer } from './crypto.js';
import { EncodingError, bytesEqual, concatBytes, fromBase64, fromHex, isWellFormedString, toBase64, toHex, utf8Encode } from './encoding.js';
import { HASH_SIZE } from './hash.js';

/** Signature type byte for Ed25519 in signed-note key ids and verifier keys. */
export const NOTE_ED25519_TYPE = 0x01;
/** Prefix of the timestamp extension line. */
export const CHECKPOINT_TIME_PREFIX = 'time ';
/** We accept at most this many signature lines (the spec requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 64;
const MAX_NOTE_BYTES = 1 << 20;

export type CheckpointErrorCode =
  | 'malformed_note'
  | 'malformed_checkpoint'
  | 'bad_key'
  | 'no_trusted_signature'
  | 'bad_signature'
  | 'origin_mismatch';

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface NoteSignature {
  name: string;
  /** 4-byte key id (big-endian uint32 in the spec) */
  keyId: Uint8Array;
  sig: Uint8Array;
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  time?: string;
  /** Extension lines other than the time line, verbatim. */
  extensions: string[];
  /** The signed note text (body), byte-exact. */
  body: string;
  signatures: NoteSignature[];
}

export interface CheckpointBodyInput {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** RFC 3339 UTC time the checkpoint was cut. */
  time?: string;
}

export interface NoteKey {
  name: string;
  publicKey: Uint8Array;
}

// Unicode white space per the spec's "Unicode spaces" (\s covers the JS set: Zs, tabs, line breaks, BOM...).
const SPACE = /[\s\u0085]/u;
// Control characters other than newline are forbidden anywhere in a note.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Key names (and our origins): non-empty, no Unicode spaces, no '+', no control characters. */
export function isValidNoteName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && !SPACE.test(name) && !name.includes('+') && !CONTROL.test(name) && isWellFormedString(name);
}

function isRfc3339Utc(time: string): boolean {
  return RFC3339_UTC.test(time) && Number.isFinite(Date.parse(time));
}

/** The note text of a checkpoint. Each line ends in \n. */
export function formatCheckpointBody({ origin, size, rootHash, time }: CheckpointBodyInput): string {
  if (!isValidNoteName(origin)) throw new CheckpointError('malformed_checkpoint', 'origin must be non-empty with no white space, "+" or control characters');
  if (!Number.isSafeInteger(size) || size < 0) throw new CheckpointError('malformed_checkpoint', 'size must be a non-negative safe integer');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_SIZE) throw new CheckpointError('malformed_checkpoint', 'rootHash must be 32 bytes');
  let body = `${origin}\n${size}\n${toBase64(rootHash)}\n`;
  if (time !== undefined) {
    if (!isRfc3339Utc(time)) throw new CheckpointError('malformed_checkpoint', 'time must be RFC 3339 UTC, e.g. 2026-11-24T13:12:10.123Z');
    body += `${CHECKPOINT_TIME_PREFIX}${time}\n`;
  }
  return body;
}

/** signed-note key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]. */
export function noteKeyId(name: string, publicKey32: Uint8Array, c: ChainCrypto = pureCrypto): Uint8Array {
  if (!isValidNoteName(name)) throw new CheckpointError('bad_key', 'key name must be non-empty with no white space or "+"');
  if (publicKey32.length !== 32) throw new CheckpointError('bad_key', 'Ed25519 public key must be 32 bytes');
  return c.sha256(concatBytes(utf8Encode(name), Uint8Array.of(0x0a, NOTE_ED25519_TYPE), publicKey32)).slice(0, 4);
}

/** Verifier key string: `<name>+<8 hex digits key id>+<base64(0x01 ‖ public key)>`. */
export function noteVerifierKey(name: string, publicKey32: Uint8Array, c: ChainCrypto = pureCrypto): string {
  const id = noteKeyId(name, publicKey32, c);
  return `${name}+${toHex(id)}+${toBase64(concatBytes(Uint8Array.of(NOTE_ED25519_TYPE), publicKey32))}`;
}

/** Parse and check a verifier key string (as served in `noteKey` by GET /v1/audit/keys). */
export function parseNoteVerifierKey(vkey: string, c: ChainCrypto = pureCrypto): NoteKey & { keyId: Uint8Array } {
  if (typeof vkey !== 'string') throw new CheckpointError('bad_key', 'verifier key must be a string');
  // The base64 part may itself contain '+', so split on the first two only.
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (first <= 0 || second < 0) throw new CheckpointError('bad_key', 'verifier key must be <name>+<hex id>+<base64 key>');
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const keyB64 = vkey.slice(second + 1);
  if (!isValidNoteName(name)) throw new CheckpointError('bad_key', 'verifier key name is not valid');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new CheckpointError('bad_key', 'verifier key id must be 8 lowercase hex digits');
  let raw: Uint8Array;
  try {
    raw = fromBase64(keyB64);
  } catch {
    throw new CheckpointError('bad_key', 'verifier key material is not base64');
  }
  if (raw.length !== 33 || raw[0] !== NOTE_ED25519_TYPE) throw new CheckpointError('bad_key', 'verifier key is not an Ed25519 (type 0x01) key');
  const publicKey = raw.slice(1);
  const keyId = noteKeyId(name, publicKey, c);
  if (!bytesEqual(keyId, fromHex(idHex))) throw new CheckpointError('bad_key', 'verifier key id does not match the name and key');
  return { name, publicKey, keyId };
}

function checkNoteText(text: string, what: string): void {
  if (!isWellFormedString(text)) throw new CheckpointError('malformed_note', `${what} is not valid UTF-8 text`);
  if (CONTROL.test(text)) throw new CheckpointError('malformed_note', `${what} contains a control character other than newline`);
}

/** Sign a note text (ending in \n) with one Ed25519 key; returns the full signed note. */
export function signNote(body: string, name: string, signer: Ed25519Signer, c: ChainCrypto = pureCrypto): string {
  if (typeof body !== 'string' || !body.endsWith('\n')) throw new CheckpointError('malformed_note', 'note text must end with a newline');
  checkNoteText(body, 'note text');
  const keyId = noteKeyId(name, signer.publicKey, c);
  const sig = signer.sign(utf8Encode(body));
  return `${body}\n— ${name} ${toBase64(concatBytes(keyId, sig))}\n`;
}

/** Split a signed note into text and signature lines (strict; no signature is checked here). */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (typeof note !== 'string') throw new CheckpointError('malformed_note', 'note must be a string');
  if (note.length > MAX_NOTE_BYTES) throw new CheckpointError('malformed_note', 'note is too large');
  checkNoteText(note, 'note');
  if (!note.endsWith('\n')) throw new CheckpointError('malformed_note', 'note must end with a newline');
  // The text is separated from the signatures by the last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new CheckpointError('malformed_note', 'note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2, -1).split('\n');
  if (sigLines.length > MAX_NOTE_SIGNATURES) throw new CheckpointError('malformed_note', `more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures: NoteSignature[] = [];
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m) throw new CheckpointError('malformed_note', 'signature line must be "— <name> <base64 signature>"');
    const name = m[1]!;
    if (!isValidNoteName(name)) throw new CheckpointError('malformed_note', 'signature key name is not valid');
    let raw: Uint8Array;
    try {
      raw = fromBase64(m[2]!);
    } catch (err) {
      throw new CheckpointError('malformed_note', `signature is not base64 (${err instanceof EncodingError ? err.message : 'invalid'})`);
    }
    if (raw.length < 5) throw new CheckpointError('malformed_note', 'signature is too short');
    signatures.push({ name, keyId: raw.slice(0, 4), sig: raw.slice(4) });
  }
  return { text, signatures };
}

/** Parse a checkpoint note strictly (signatures are parsed, not verified: use verifyCheckpoint). */
export function parseCheckpoint(noteText: string): Checkpoint {
  const { text, signatures } = parseNote(noteText);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('malformed_checkpoint', 'checkpoint needs origin, size and root hash lines');
  const [origin, sizeLine, rootLine, ...ext] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointError('malformed_checkpoint', 'origin line is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new CheckpointError('malformed_checkpoint', 'tree size must be decimal without leading zeros');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new CheckpointError('malformed_checkpoint', 'tree size is too large');
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootLine, HASH_SIZE);
  } catch {
    throw new CheckpointError('malformed_checkpoint', 'root hash must be base64 of 32 bytes');
  }
  let time: string | undefined;
  const extensions: string[] = [];
  for (const line of ext) {
    if (line.length === 0) throw new CheckpointError('malformed_checkpoint', 'extension lines must not be empty');
    if (line.startsWith(CHECKPOINT_TIME_PREFIX) && time === undefined) {
      const t = line.slice(CHECKPOINT_TIME_PREFIX.length);
      if (!isRfc3339Utc(t)) throw new CheckpointError('malformed_checkpoint', 'time extension line is not RFC 3339 UTC');
      time = t;
    } else {
      extensions.push(line);
    }
  }
  const cp: Checkpoint = { origin, size, rootHash, extensions, body: text, signatures };
  if (time !== undefined) cp.time = time;
  return cp;
}

/**
 * Parse a checkpoint and verify its signatures per signed-note rules: signatures from unknown keys
 * (name and key id not both matching) are ignored; a signature from a known key that fails rejects
 * the note; at least one known key must have signed. With `origin`, the origin line must equal it.
 * Throws CheckpointError (code says why); returns the checkpoint and the names of keys that verified.
 */
export function verifyCheckpoint(
  noteText: string,
  keys: readonly NoteKey[],
  c: ChainCrypto = pureCrypto,
  opts: { origin?: string } = {},
): Checkpoint & { verifiedBy: NoteKey[] } {
  const cp = parseCheckpoint(noteText);
  if (opts.origin !== undefined && cp.origin !== opts.origin) {
    throw new CheckpointError('origin_mismatch', `checkpoint origin "${cp.origin}" is not the expected "${opts.origin}"`);
  }
  const known = keys.map((k) => ({ key: k, id: noteKeyId(k.name, k.publicKey, c) }));
  const msg = utf8Encode(cp.body);
  const verifiedBy: NoteKey[] = [];
  for (const s of cp.signatures) {
    const match = known.find((k) => k.key.name === s.name && bytesEqual(k.id, s.keyId));
    if (!match) continue;
    if (!c.verifyEd25519(s.sig, msg, match.key.publicKey)) {
      throw new CheckpointError('bad_signature', `signature by ${s.name}+${toHex(s.keyId)} does not verify`);
    }
    verifiedBy.push(match.key);
  }
  if (verifiedBy.length === 0) throw new CheckpointError('no_trusted_signature', 'no signature from a trusted key');
  return { ...cp, verifiedBy };
}
