// Verification of one served entry with the project's third-party verifier, ChainVerifier
// (src/chain/verify.ts): the very code `ainfera verify` runs, here with the pure @noble crypto.
// Verdicts come only from ChainVerifier; this file sequences its calls (envelope, checkpoint note,
// inclusion proof, consistency proof) and turns each result into a line the page can show. The
// canonical bytes and computed hash it displays come from the same chain modules.
import { canonicalEntryJson } from '../../chain/canonical.js';
import { pureCrypto } from '../../chain/crypto.js';
import { toHex0x } from '../../chain/encoding.js';
import { leafHashOfString } from '../../chain/hash.js';
import type { PublicKeyInfo } from '../../chain/types.js';
import { ChainVerifier, type FailureReason, type VerifyFailure } from '../../chain/verify.js';
import type { EntryWithProof } from './api.js';
import type { SignedCheckpoint } from './checkpoint-memory.js';

export type CheckState = 'ok' | 'bad' | 'pending' | 'skipped' | 'warn';

export interface Check {
  id: 'format' | 'hash' | 'signature' | 'checkpoint' | 'inclusion' | 'stream' | 'consistency';
  label: string;
  state: CheckState;
  detail: string;
}

export interface EntryReport {
  checks: Check[];
  /** The canonical bytes this browser computed (RFC 8785 of `entry`), as text. */
  canonical: string | null;
  computedHash: string | null;
  /** The signed checkpoint the proof is against, when its signature verified. */
  checkpoint: SignedCheckpoint | null;
}

const verifiers = new WeakMap<readonly PublicKeyInfo[], ChainVerifier>();

/** One ChainVerifier per key list (it parses and checks the keys once). Throws VerifierConfigError on unusable keys. */
export function verifierFor(keys: readonly PublicKeyInfo[]): ChainVerifier {
  let v = verifiers.get(keys);
  if (!v) {
    v = new ChainVerifier({ keys, crypto: pureCrypto });
    verifiers.set(keys, v);
  }
  return v;
}

/** Verify a signed checkpoint note against the served keys; throws with the reason when it does not. */
export function verifyCheckpointNote(note: string, keys: readonly PublicKeyInfo[]): SignedCheckpoint & { time?: string } {
  const r = verifierFor(keys).verifyCheckpointNote(note);
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`);
  const cp = r.checkpoint;
  const out: SignedCheckpoint & { time?: string } = { origin: cp.origin, size: cp.size, rootHash: toHex0x(cp.rootHash), note };
  if (cp.time !== undefined) out.time = cp.time;
  return out;
}

/** Is `newer` an extension of `older` by the served consistency proof? (Both notes re-verified.) */
export function verifyConsistencyNotes(keys: readonly PublicKeyInfo[], older: SignedCheckpoint, newer: SignedCheckpoint, proof: readonly string[]): boolean {
  return verifierFor(keys).verifyConsistencyProof(older.note, newer.note, proof).ok;
}

const ENVELOPE_STEP: Partial<Record<FailureReason, Check['id']>> = {
  malformed_envelope: 'format',
  malformed_entry: 'format',
  hash_mismatch: 'hash',
  unknown_key: 'signature',
  key_not_valid: 'signature',
  bad_signature: 'signature',
};

const LABEL: Record<Check['id'], string> = {
  format: 'Entry format',
  hash: 'Leaf hash of the canonical bytes',
  signature: 'Ed25519 signature',
  checkpoint: 'Signed checkpoint',
  inclusion: 'Merkle inclusion proof',
  stream: 'Same entry as the live feed',
  consistency: 'Consistent with checkpoints seen before',
};

function check(id: Check['id'], state: CheckState, detail: string): Check {
  return { id, label: LABEL[id], state, detail };
}

function why(f: VerifyFailure): string {
  return f.reason === 'hash_mismatch' ? `the entry was altered: ${f.detail}` : f.detail;
}

/**
 * Every check one served entry can pass on its own (GET /v1/audit/public/SEQ): format, canonical bytes →
 * leaf hash, Ed25519 signature, the checkpoint's signature, the inclusion proof, and (when given) the
 * hash the live trace showed. Consistency with earlier checkpoints is CheckpointMemory's job.
 */
export function verifyServedEntry(served: EntryWithProof, keys: readonly PublicKeyInfo[], streamedHash?: string): EntryReport {
  const checks: Check[] = [];
  const envelope = { entry: served.entry, hash: served.hash, sig: served.sig, keyId: served.keyId };
  const entry = served.entry as unknown as Record<string, unknown>;

  // For display: the bytes and hash as this browser computes them (shown even when they do not match).
  let canonical: string | null = null;
  let computedHash: string | null = null;
  try {
    canonical = canonicalEntryJson(served.entry);
    computedHash = toHex0x(leafHashOfString(canonical, pureCrypto));
  } catch {
    // the verdict below names the problem
  }

  let verifier: ChainVerifier | null = null;
  try {
    verifier = verifierFor(keys);
  } catch (err) {
    checks.push(check('signature', 'bad', `the log's published keys are unusable: ${err instanceof Error ? err.message : String(err)}`));
  }

  let envelopeOk = false;
  if (verifier) {
    const r = verifier.verifyEnvelope(envelope);
    if (r.ok) {
      envelopeOk = true;
      checks.push(
        check('format', 'ok', `v${String(entry.v)}, seq ${r.seq}, kind ${String(entry.kind)}`),
        check('hash', 'ok', `SHA-256(0x00 ‖ ${new TextEncoder().encode(canonical ?? '').length} bytes) = ${r.hash}`),
        check('signature', r.signatureChecked ? 'ok' : 'warn', `by key ${served.keyId} over "ainfera/entry/v1\\n" ‖ hash, key valid at ${String(entry.time)}`),
      );
    } else {
      const failedAt = ENVELOPE_STEP[r.reason] ?? 'format';
      const order: Check['id'][] = ['format', 'hash', 'signature'];
      for (const id of order) {
        const idx = order.indexOf(id);
        const failIdx = order.indexOf(failedAt);
        if (idx < failIdx) checks.push(check(id, 'ok', id === 'format' ? `v${String(entry.v)}, seq ${String(entry.seq)}, kind ${String(entry.kind)}` : 'passed'));
        else if (idx === failIdx) checks.push(check(id, 'bad', why(r)));
        else checks.push(check(id, 'skipped', 'not checked after the failure above'));
      }
    }
  }

  let cp: SignedCheckpoint | null = null;
  if (served.checkpoint == null || served.proof == null) {
    checks.push(check('checkpoint', 'pending', 'not under a signed checkpoint yet (one is cut within about a second)'));
    checks.push(check('inclusion', 'pending', 'waiting for the checkpoint'));
  } else if (verifier) {
    const note = verifier.verifyCheckpointNote(served.checkpoint);
    if (note.ok) {
      cp = { origin: note.checkpoint.origin, size: note.checkpoint.size, rootHash: toHex0x(note.checkpoint.rootHash), note: served.checkpoint };
      checks.push(check('checkpoint', 'ok', `${cp.origin}, tree size ${cp.size}, root ${cp.rootHash.slice(0, 18)}…`));
    } else {
      checks.push(check('checkpoint', 'bad', `${note.reason}: ${note.detail}`));
    }
    if (!envelopeOk || !cp) {
      checks.push(check('inclusion', 'skipped', 'needs a valid entry and a verified checkpoint'));
    } else {
      const inc = verifier.verifyInclusionProof(envelope, served.proof, served.checkpoint);
      const p = served.proof;
      checks.push(
        inc.ok
          ? check('inclusion', 'ok', `leaf ${p.leafIndex} of ${p.treeSize}, ${p.hashes.length} hashes up to the signed root`)
          : check('inclusion', 'bad', `${inc.reason}: ${inc.detail}`),
      );
    }
  }

  if (streamedHash !== undefined) {
    const same = streamedHash === served.hash;
    checks.push(check('stream', same ? 'ok' : 'bad', same ? 'the live trace showed the same hash' : `the live trace showed ${streamedHash}, this endpoint serves ${served.hash}`));
  }
  return { checks, canonical, computedHash, checkpoint: cp };
}

/** Overall verdict: red if any check failed, pending while one waits, green when all passed. */
export function verdict(checks: readonly Check[]): 'ok' | 'bad' | 'pending' {
  if (checks.some((c) => c.state === 'bad')) return 'bad';
  if (checks.some((c) => c.state === 'pending')) return 'pending';
  return 'ok';
}
