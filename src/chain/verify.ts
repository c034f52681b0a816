// The third-party verifier: the CLI (`ainfera verify`) and the browser page run exactly this code.
// Pure module (crypto injected: pureCrypto in the browser, nodeCrypto in the CLI).
//
// ChainVerifier checks, from the public keys alone (GET /v1/audit/keys):
//   - one envelope: JCS(entry) -> leaf hash equals `hash`; Ed25519 signature by `keyId`; key valid at entry.time
//   - a run of envelopes, streamed in batches: gap-free seq, prev links, and the Merkle tree, keeping only the
//     tree's right edge (O(log n) memory) so millions of entries verify in bounded memory
//   - checkpoints (C2SP signed notes): signature, no rollback, no fork, and root = the run's root at that size
//   - inclusion proofs (served entries) and consistency proofs (between checkpoints)
// Every failure is a typed result naming the first bad seq (or checkpoint size) and why; the first failure
// is sticky (a stream is judged up to its first defect, and nothing after it is trusted).
import { canonicalEntryJson } from './canonical.js';
import { CheckpointError, parseCheckpoint, parseNoteVerifierKey, verifyCheckpoint, type Checkpoint, type NoteKey } from './checkpoint.js';
import { pureCrypto, type ChainCrypto } from './crypto.js';
import { bytesEqual, fromBase64, fromHex0x, isHex0x, toHex0x } from './encoding.js';
import { entryHeaderProblem, entrySigningMessage } from './entry.js';
import { leafHashOfString } from './hash.js';
import { MerkleFrontier, verifyConsistency, verifyInclusion } from './merkle.js';
import { GENESIS_PREV, type ChainEntry, type Envelope, type PublicKeyInfo } from './types.js';

export type FailureReason =
  /** Not an envelope {entry, hash, sig, keyId} of the right types. */
  | 'malformed_envelope'
  /** The entry breaks the format rules (version, field types, time, prev form...). */
  | 'malformed_entry'
  /** An expected seq is missing (deleted, or the stream skipped it). */
  | 'seq_gap'
  /** Entries are not in seq order (reordered or repeated). */
  | 'seq_out_of_order'
  /** `hash` is not SHA-256(0x00 ‖ JCS(entry)): the entry or its hash was altered. */
  | 'hash_mismatch'
  /** `prev` is not the previous entry's hash: the chain was cut or spliced. */
  | 'prev_mismatch'
  /** `keyId` is not among the published keys. */
  | 'unknown_key'
  /** The key exists but was not valid at the entry's (or checkpoint's) time. */
  | 'key_not_valid'
  /** The Ed25519 signature does not verify. */
  | 'bad_signature'
  /** A checkpoint's root differs from the root of the verified entries at its size. */
  | 'root_mismatch'
  /** The stream ended before the size a checkpoint commits to (entries withheld or truncated). */
  | 'truncated'
  /** A checkpoint note cannot be parsed. */
  | 'malformed_checkpoint'
  /** A checkpoint is not validly signed by a published key (or its origin is wrong). */
  | 'checkpoint_signature'
  /** Two validly signed checkpoints cannot both be true: same size and different roots (a fork), or a failed consistency proof. */
  | 'inconsistent_checkpoint'
  /** A checkpoint is smaller than one already seen: the log was rolled back (or a stale view is being served). */
  | 'checkpoint_rollback'
  /** An inclusion proof does not prove the entry is in the checkpoint's tree. */
  | 'bad_inclusion_proof';

export interface VerifyFailure {
  ok: false;
  reason: FailureReason;
  /** The first bad entry's seq (for entry and stream failures). */
  seq?: number;
  /** The checkpoint's tree size (for checkpoint failures). */
  checkpointSize?: number;
  detail: string;
}

export interface EntryCheck {
  ok: true;
  seq: number;
  /** 32-byte leaf hash */
  leaf: Uint8Array;
  /** `0x` + hex leaf hash */
  hash: string;
  /** Whether the signature was checked (false when the verifier was built with checkSignatures: false). */
  signatureChecked: boolean;
}

export interface StreamProgress {
  ok: true;
  /** Entries verified so far (= next expected seq). */
  size: number;
}

export interface CheckpointCheck {
  ok: true;
  checkpoint: Checkpoint;
  /** `verified`: its root matched the verified entries; `pending`: entries up to its size have not arrived yet. */
  status: 'verified' | 'pending';
}

export interface VerifySummary {
  ok: true;
  size: number;
  /** `0x` + hex root of all verified entries */
  root: string;
  /** Checkpoints whose root was matched against the entries. */
  checkpointsVerified: number;
  /** The largest verified checkpoint, if any. */
  latestCheckpoint: Checkpoint | null;
  signaturesChecked: boolean;
}

/** The keys set or an option is unusable (a programming or configuration error, not a chain defect). */
export class VerifierConfigError extends Error {
  override readonly name = 'VerifierConfigError';
}

interface TrustedKey {
  keyId: string;
  publicKey: Uint8Array;
  validFrom: number;
  validUntil: number | null;
  note: NoteKey;
}

export interface ChainVerifierOptions {
  /** GET /v1/audit/keys response, or its `keys` array. */
  keys: { keys: readonly PublicKeyInfo[] } | readonly PublicKeyInfo[];
  /** pureCrypto (default; browser) or nodeCrypto (CLI/server, much faster). */
  crypto?: ChainCrypto;
  /** Check entry signatures (default true). Off only to measure hashing separately. */
  checkSignatures?: boolean;
  /** Expected checkpoint origin; by default the origin must equal the signing key's note name. */
  origin?: string;
}

function fail(reason: FailureReason, detail: string, where: { seq?: number; checkpointSize?: number } = {}): VerifyFailure {
  return { ok: false, reason, ...where, detail };
}

function parseTime(t: string, what: string): number {
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw new VerifierConfigError(`${what}: not a time: ${t}`);
  return ms;
}

function buildKeys(list: readonly PublicKeyInfo[], c: ChainCrypto): Map<string, TrustedKey> {
  const keys = new Map<string, TrustedKey>();
  list.forEach((k, i) => {
    const at = `keys[${i}]`;
    if (typeof k !== 'object' || k === null) throw new VerifierConfigError(`${at}: not an object`);
    if (k.algorithm !== 'ed25519') throw new VerifierConfigError(`${at}.algorithm: only ed25519 is supported`);
    if (typeof k.keyId !== 'string' || k.keyId.length === 0) throw new VerifierConfigError(`${at}.keyId: missing`);
    let publicKey: Uint8Array;
    try {
      publicKey = fromBase64(k.publicKey, 32);
    } catch {
      throw new VerifierConfigError(`${at}.publicKey: must be base64 of 32 bytes`);
    }
    let note: NoteKey;
    try {
      note = parseNoteVerifierKey(k.noteKey, c);
    } catch (err) {
      throw new VerifierConfigError(`${at}.noteKey: ${(err as Error).message}`);
    }
    if (!bytesEqual(note.publicKey, publicKey)) throw new VerifierConfigError(`${at}.noteKey: names a different public key than publicKey`);
    if (keys.has(k.keyId)) throw new VerifierConfigError(`${at}.keyId: duplicate ${k.keyId}`);
    keys.set(k.keyId, {
      keyId: k.keyId,
      publicKey,
      validFrom: parseTime(k.validFrom, `${at}.validFrom`),
      validUntil: k.validUntil === null || k.validUntil === undefined ? null : parseTime(k.validUntil, `${at}.validUntil`),
      note: { name: note.name, publicKey },
    });
  });
  if (keys.size === 0) throw new VerifierConfigError('no public keys given');
  return keys;
}

// Char codes of the lowercase hex digits of each byte value.
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEX_HI[b] = h.charCodeAt(0);
  HEX_LO[b] = h.charCodeAt(1);
}

/** True iff `text` is exactly `0x` + the lowercase hex of `bytes` (what toHex0x writes), without building that string. */
function isHexOf(bytes: Uint8Array, text: string): boolean {
  if (text.length !== 2 + 2 * bytes.length || text.charCodeAt(0) !== 48 || text.charCodeAt(1) !== 120) return false;
  for (let i = 0, j = 2; i < bytes.length; i++, j += 2) {
    const b = bytes[i]!;
    if (text.charCodeAt(j) !== HEX_HI[b] || text.charCodeAt(j + 1) !== HEX_LO[b]) return false;
  }
  return true;
}

/** Where an envelope failure points: the entry's seq when it has a numeric one. */
function failureSeq(entry: unknown): { seq?: number } {
  const seq = (entry as ChainEntry | null | undefined)?.seq;
  return typeof seq === 'number' ? { seq } : {};
}

function validAt(key: TrustedKey, ms: number): boolean {
  // Inclusive at both ends: a rotation at instant T may leave an entry stamped T under either key.
  return ms >= key.validFrom && (key.validUntil === null || ms <= key.validUntil);
}

/** A served proof: {"leafIndex", "treeSize", "hashes": ["0x…"]}. */
export interface InclusionProofJson {
  leafIndex: number;
  treeSize: number;
  hashes: readonly string[];
}

export class ChainVerifier {
  private readonly c: ChainCrypto;
  private readonly keys: Map<string, TrustedKey>;
  private readonly noteKeys: NoteKey[];
  readonly checkSignatures: boolean;
  private readonly origin: string | undefined;

  private readonly frontier: MerkleFrontier;
  private prevHash = GENESIS_PREV;
  private failure: VerifyFailure | null = null;
  /** Checkpoints whose size the stream has not reached, by size. */
  private readonly pending = new Map<number, Checkpoint>();
  private largestSeen: Checkpoint | null = null;
  /** Envelopes held back (one batch at most) while a missing seq is told apart from a reorder. */
  private held: readonly unknown[] = [];
  private deferredAt = -1;
  private latestVerified: Checkpoint | null = null;
  private checkpointsVerified = 0;

  constructor(opts: ChainVerifierOptions) {
    this.c = opts.crypto ?? pureCrypto;
    const list = Array.isArray(opts.keys) ? (opts.keys as readonly PublicKeyInfo[]) : (opts.keys as { keys: readonly PublicKeyInfo[] }).keys;
    if (!Array.isArray(list)) throw new VerifierConfigError('keys: expected the GET /v1/audit/keys response or its keys array');
    this.keys = buildKeys(list, this.c);
    this.noteKeys = [...this.keys.values()].map((k) => k.note);
    this.checkSignatures = opts.checkSignatures ?? true;
    this.origin = opts.origin;
    this.frontier = new MerkleFrontier(this.c);
  }

  /** Entries verified so far (the next expected seq). */
  get size(): number {
    return this.frontier.size;
  }

  /** Root of the entries verified so far. */
  root(): Uint8Array {
    return this.frontier.root();
  }

  /** The first failure, if the stream has failed. */
  get failed(): VerifyFailure | null {
    return this.failure;
  }

  /**
   * Check one envelope on its own: shape, format, JCS -> hash, key validity at entry.time, signature.
   * (No seq/prev context: use push for a run.)
   */
  verifyEnvelope(envelope: unknown): EntryCheck | VerifyFailure {
    if (typeof envelope !== 'object' || envelope === null) return fail('malformed_envelope', 'envelope is not an object');
    const env = envelope as Partial<Envelope>;
    const entry = env.entry as unknown;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail('malformed_envelope', 'envelope.entry is not an object', failureSeq(entry));
    if (typeof env.hash !== 'string' || typeof env.sig !== 'string' || typeof env.keyId !== 'string') {
      return fail('malformed_envelope', 'envelope needs string hash, sig and keyId', failureSeq(entry));
    }
    const head = entryHeaderProblem(entry);
    if ('problem' in head) return fail('malformed_entry', head.problem, failureSeq(entry));
    const e = entry as ChainEntry;

    let canonical: string;
    try {
      canonical = canonicalEntryJson(e); // also rejects fields that are not strings or safe integers
    } catch (err) {
      return fail('malformed_entry', err instanceof Error ? err.message : 'entry cannot be canonicalized', failureSeq(entry));
    }
    const leaf = leafHashOfString(canonical, this.c);
    // Compare the digest with the envelope's hex in place: once equal, env.hash IS the hash string.
    if (!isHexOf(leaf, env.hash)) {
      return fail('hash_mismatch', `SHA-256(0x00 ‖ JCS(entry)) is ${toHex0x(leaf)}, envelope says ${env.hash}`, failureSeq(entry));
    }
    const hash = env.hash;

    const key = this.keys.get(env.keyId);
    if (!key) return fail('unknown_key', `keyId ${env.keyId} is not among the published keys`, failureSeq(entry));
    if (!validAt(key, head.timeMs)) return fail('key_not_valid', `key ${env.keyId} was not valid at ${e.time}`, failureSeq(entry));

    if (this.checkSignatures) {
      let sig: Uint8Array;
      try {
        sig = fromBase64(env.sig, 64);
      } catch {
        return fail('bad_signature', 'sig is not base64 of 64 bytes', failureSeq(entry));
      }
      if (!this.c.verifyEd25519(sig, entrySigningMessage(leaf), key.publicKey)) {
        return fail('bad_signature', `Ed25519 signature does not verify under key ${env.keyId}`, failureSeq(entry));
      }
    }
    return { ok: true, seq: e.seq, leaf, hash, signatureChecked: this.checkSignatures };
  }

  /**
   * Feed the next envelopes of the chain, in seq order, starting at seq 0. Returns progress, or the
   * first failure (sticky: later calls return it again without looking at their input). When a seq is
   * missing, the envelopes from there on are held for one more push (or finish) to tell a deletion
   * (`seq_gap`) from a reorder across the batch boundary (`seq_out_of_order`); `size` then stays at
   * the missing seq. Always call finish() at the end.
   */
  push(envelopes: readonly unknown[]): StreamProgress | VerifyFailure {
    if (this.failure) return this.failure;
    const batch = this.held.length > 0 ? [...this.held, ...envelopes] : envelopes;
    this.held = [];
    for (let i = 0; i < batch.length; i++) {
      const expected = this.frontier.size;
      const env = batch[i] as Partial<Envelope> | null | undefined;
      const seq = typeof env === 'object' && env !== null && typeof env.entry === 'object' && env.entry !== null ? (env.entry as ChainEntry).seq : undefined;
      if (typeof seq !== 'number') return this.stop(fail('malformed_envelope', 'envelope has no entry.seq', { seq: expected }));
      if (seq !== expected) {
        const laterInBatch = batch.slice(i + 1).some((e) => (e as Envelope | null)?.entry?.seq === expected);
        if (!laterInBatch && seq > expected && this.deferredAt !== expected) {
          // A missing seq may be a deletion (gap) or a swap across the batch boundary: look one batch
          // ahead before naming it. Nothing from here on is accepted meanwhile.
          this.held = batch.slice(i);
          this.deferredAt = expected;
          return { ok: true, size: expected };
        }
        return this.stop(this.seqFailure(expected, seq, laterInBatch));
      }

      const checked = this.verifyEnvelope(env);
      if (!checked.ok) return this.stop({ ...checked, seq: expected });
      const entry = (env as Envelope).entry;
      if (entry.prev !== this.prevHash) {
        return this.stop(fail('prev_mismatch', `prev is ${entry.prev}, the previous entry's hash is ${this.prevHash}`, { seq: expected }));
      }
      this.frontier.append(checked.leaf);
      this.prevHash = checked.hash;

      const cp = this.pending.get(this.frontier.size);
      if (cp) {
        this.pending.delete(cp.size);
        const r = this.matchRoot(cp);
        if (!r.ok) return this.stop(r);
      }
    }
    return { ok: true, size: this.frontier.size };
  }

  /**
   * Add a checkpoint (signed-note text), in the order they were observed (ascending size). Its signature
   * is checked now; its root is compared with the verified entries once the stream reaches its size
   * (immediately if it already has). Add a checkpoint before streaming past its size: only the tree's
   * right edge is kept, so older roots cannot be recomputed (use verifyConsistencyProof for those).
   */
  addCheckpoint(noteText: string): CheckpointCheck | VerifyFailure {
    if (this.failure) return this.failure;
    const checked = this.verifyCheckpointNote(noteText);
    if (!checked.ok) return this.stop(checked);
    const cp = checked.checkpoint;
    const at = { checkpointSize: cp.size };

    const largest = this.largestSeen;
    if (largest && cp.size === largest.size) {
      if (!bytesEqual(largest.rootHash, cp.rootHash)) {
        return this.stop(fail('inconsistent_checkpoint', `two validly signed checkpoints for size ${cp.size} with different roots (a fork)`, at));
      }
      return { ok: true, checkpoint: cp, status: this.pending.has(cp.size) ? 'pending' : 'verified' }; // the same one again
    }
    if (largest && cp.size < largest.size) {
      return this.stop(fail('checkpoint_rollback', `checkpoint of size ${cp.size} after one of size ${largest.size}`, at));
    }
    this.largestSeen = cp;

    if (cp.size > this.frontier.size) {
      this.pending.set(cp.size, cp);
      return { ok: true, checkpoint: cp, status: 'pending' };
    }
    if (cp.size === this.frontier.size) {
      const r = this.matchRoot(cp);
      if (!r.ok) return this.stop(r);
      return { ok: true, checkpoint: cp, status: 'verified' };
    }
    throw new VerifierConfigError(
      `checkpoint of size ${cp.size} added after ${this.frontier.size} entries were streamed: add checkpoints before streaming past their size`,
    );
  }

  /**
   * End of the stream: fails with `truncated` if a checkpoint commits to more entries than arrived.
   * Otherwise a summary of what was verified.
   */
  finish(): VerifySummary | VerifyFailure {
    if (this.failure) return this.failure;
    if (this.held.length > 0) {
      const got = (this.held[0] as Envelope).entry.seq;
      return this.stop(this.seqFailure(this.frontier.size, got, false));
    }
    if (this.pending.size > 0) {
      const smallest = Math.min(...this.pending.keys());
      return this.stop(
        fail('truncated', `checkpoint commits to ${smallest} entries but the stream ended after ${this.frontier.size}`, {
          seq: this.frontier.size,
          checkpointSize: smallest,
        }),
      );
    }
    return {
      ok: true,
      size: this.frontier.size,
      root: toHex0x(this.frontier.root()),
      checkpointsVerified: this.checkpointsVerified,
      latestCheckpoint: this.latestVerified,
      signaturesChecked: this.checkSignatures,
    };
  }

  /** Check a checkpoint note's signature (and origin, and key validity at its time) without stream state. */
  verifyCheckpointNote(noteText: string): { ok: true; checkpoint: Checkpoint } | VerifyFailure {
    let size: number | undefined;
    try {
      size = parseCheckpoint(noteText).size;
    } catch (err) {
      return fail('malformed_checkpoint', err instanceof Error ? err.message : 'unparseable checkpoint');
    }
    const at = { checkpointSize: size };
    let cp: Checkpoint & { verifiedBy: NoteKey[] };
    try {
      cp = verifyCheckpoint(noteText, this.noteKeys, this.c, this.origin === undefined ? {} : { origin: this.origin });
    } catch (err) {
      const msg = err instanceof CheckpointError ? `${err.code}: ${err.message}` : String(err);
      return fail('checkpoint_signature', msg, at);
    }
    if (this.origin === undefined && !cp.verifiedBy.some((k) => k.name === cp.origin)) {
      return fail('checkpoint_signature', `checkpoint origin "${cp.origin}" is not the name of the key that signed it`, at);
    }
    if (cp.time !== undefined) {
      const ms = Date.parse(cp.time);
      const ok = cp.verifiedBy.some((nk) => [...this.keys.values()].some((k) => k.note === nk && validAt(k, ms)));
      if (!ok) return fail('key_not_valid', `no key that signed the checkpoint was valid at ${cp.time}`, at);
    }
    const { verifiedBy: _unused, ...checkpoint } = cp;
    return { ok: true, checkpoint };
  }

  /**
   * Check a served entry against a checkpoint: the envelope itself, the checkpoint's signature, and the
   * inclusion proof (leafIndex = seq, treeSize = checkpoint size) from the leaf hash to its root.
   */
  verifyInclusionProof(envelope: unknown, proof: InclusionProofJson, checkpointNote: string): EntryCheck | VerifyFailure {
    const entry = this.verifyEnvelope(envelope);
    if (!entry.ok) return entry;
    const cpr = this.verifyCheckpointNote(checkpointNote);
    if (!cpr.ok) return cpr;
    const cp = cpr.checkpoint;
    const at = { seq: entry.seq, checkpointSize: cp.size };
    if (typeof proof !== 'object' || proof === null || !Array.isArray(proof.hashes)) return fail('bad_inclusion_proof', 'proof must be {leafIndex, treeSize, hashes}', at);
    if (proof.leafIndex !== entry.seq) return fail('bad_inclusion_proof', `proof is for leaf ${proof.leafIndex}, the entry is seq ${entry.seq}`, at);
    if (proof.treeSize !== cp.size) return fail('bad_inclusion_proof', `proof is for tree size ${proof.treeSize}, the checkpoint is size ${cp.size}`, at);
    let hashes: Uint8Array[];
    try {
      hashes = proof.hashes.map((h) => fromHex0x(h, 32));
    } catch {
      return fail('bad_inclusion_proof', 'proof hashes must be 0x + 64 hex digits', at);
    }
    if (!verifyInclusion(entry.leaf, entry.seq, cp.size, hashes, cp.rootHash, this.c)) {
      return fail('bad_inclusion_proof', `entry ${entry.seq} is not proven to be in the tree of size ${cp.size}`, at);
    }
    return entry;
  }

  /** Check a served GET /v1/audit/public/SEQ response: {...envelope, proof, checkpoint}. */
  verifyServedEntry(response: unknown): EntryCheck | VerifyFailure {
    if (typeof response !== 'object' || response === null) return fail('malformed_envelope', 'response is not an object');
    const r = response as Envelope & { proof?: InclusionProofJson; checkpoint?: string };
    if (typeof r.checkpoint !== 'string' || typeof r.proof !== 'object' || r.proof === null) {
      return fail('malformed_envelope', 'response needs proof and checkpoint');
    }
    return this.verifyInclusionProof({ entry: r.entry, hash: r.hash, sig: r.sig, keyId: r.keyId }, r.proof, r.checkpoint);
  }

  /**
   * Check that the checkpoint `newNote` extends `oldNote` (both validly signed) with the served
   * consistency proof hashes (GET /v1/audit/consistency?from=old&to=new).
   */
  verifyConsistencyProof(oldNote: string, newNote: string, hashes: readonly string[]): { ok: true; from: Checkpoint; to: Checkpoint } | VerifyFailure {
    const a = this.verifyCheckpointNote(oldNote);
    if (!a.ok) return a;
    const b = this.verifyCheckpointNote(newNote);
    if (!b.ok) return b;
    const from = a.checkpoint;
    const to = b.checkpoint;
    const at = { checkpointSize: to.size };
    if (to.size < from.size) return fail('checkpoint_rollback', `checkpoint of size ${to.size} is older than the one of size ${from.size}`, at);
    let proof: Uint8Array[];
    try {
      if (!Array.isArray(hashes)) throw new Error('not an array');
      proof = hashes.map((h) => fromHex0x(h, 32));
    } catch {
      return fail('inconsistent_checkpoint', 'consistency proof hashes must be 0x + 64 hex digits', at);
    }
    if (!verifyConsistency(from.size, to.size, from.rootHash, to.rootHash, proof, this.c)) {
      return fail('inconsistent_checkpoint', `checkpoint ${to.size} is not consistent with checkpoint ${from.size}`, at);
    }
    return { ok: true, from, to };
  }

  private matchRoot(cp: Checkpoint): { ok: true } | VerifyFailure {
    const root = this.frontier.root();
    if (!bytesEqual(root, cp.rootHash)) {
      const where = cp.size > 0 ? { seq: cp.size - 1, checkpointSize: cp.size } : { checkpointSize: cp.size };
      return fail('root_mismatch', `root of the first ${cp.size} entries is ${toHex0x(root)}, the checkpoint says ${toHex0x(cp.rootHash)}`, where);
    }
    this.checkpointsVerified++;
    if (!this.latestVerified || cp.size >= this.latestVerified.size) this.latestVerified = cp;
    return { ok: true };
  }

  private seqFailure(expected: number, got: number, laterInBatch: boolean): VerifyFailure {
    if (!Number.isSafeInteger(got)) return fail('malformed_entry', `seq ${got} is not an integer`, { seq: expected });
    if (laterInBatch || got < expected) {
      return fail('seq_out_of_order', `expected seq ${expected}, got ${got}`, { seq: expected });
    }
    return fail('seq_gap', `expected seq ${expected}, got ${got}: ${got - expected} entr${got - expected === 1 ? 'y' : 'ies'} missing`, {
      seq: expected,
    });
  }

  private stop(f: VerifyFailure): VerifyFailure {
    this.failure = f;
    return f;
  }
}

/** `0x`-hex helpers re-exported for callers formatting results. */
export { isHex0x, toHex0x };
