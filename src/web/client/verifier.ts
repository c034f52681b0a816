// Verification of one served entry, step by step, with the pure verifier modules of src/chain (the same
// code `ainfera verify` runs). This file only sequences those calls and turns each result into a line
// the page can show; it implements no cryptography or tree logic of its own.
import { verifyCheckpoint, parseNoteVerifierKey, type NoteKey } from '../../chain/checkpoint.js';
import { pureCrypto } from '../../chain/crypto.js';
import { fromBase64, fromHex0x, isHex0x, toHex0x } from '../../chain/encoding.js';
import { encodeEntry, entryFormatProblem, entrySigningMessage } from '../../chain/entry.js';
import { leafHash } from '../../chain/hash.js';
import { verifyConsistency as merkleConsistency, verifyInclusion } from '../../chain/merkle.js';
import type { ChainEntry, PublicKeyInfo } from '../../chain/types.js';
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
  checkpoint: (SignedCheckpoint & { time?: string }) | null;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Note verifier keys from GET /v1/audit/keys (malformed ones are skipped: they can vouch for nothing). */
export function noteKeysOf(keys: readonly PublicKeyInfo[]): NoteKey[] {
  const out: NoteKey[] = [];
  for (const k of keys) {
    try {
      const { name, publicKey } = parseNoteVerifierKey(k.noteKey, pureCrypto);
      out.push({ name, publicKey });
    } catch {
      // skip
    }
  }
  return out;
}

/** Verify a signed checkpoint note against the served keys; throws with the reason when it does not. */
export function verifyCheckpointNote(note: string, keys: readonly PublicKeyInfo[]): SignedCheckpoint & { time?: string } {
  const cp = verifyCheckpoint(note, noteKeysOf(keys), pureCrypto);
  const out: SignedCheckpoint & { time?: string } = { origin: cp.origin, size: cp.size, rootHash: toHex0x(cp.rootHash) };
  if (cp.time !== undefined) out.time = cp.time;
  return out;
}

/** RFC 9162 consistency check on `0x` hex inputs (what CheckpointMemory speaks). */
export function verifyConsistencyHex(from: number, to: number, proof: string[], fromRoot: string, toRoot: string): boolean {
  try {
    return merkleConsistency(from, to, fromHex0x(fromRoot, 32), fromHex0x(toRoot, 32), proof.map((h) => fromHex0x(h, 32)), pureCrypto);
  } catch {
    return false;
  }
}

function keyValidAt(k: PublicKeyInfo, time: string): boolean {
  return k.validFrom <= time && (k.validUntil === null || time < k.validUntil);
}

/**
 * Every check one entry can pass on its own: format, canonical bytes → leaf hash, Ed25519 signature,
 * the checkpoint's signature, the inclusion proof, and (when given) the hash the live trace showed.
 * Consistency with earlier checkpoints is CheckpointMemory's job; the caller appends that check.
 */
export function verifyServedEntry(served: EntryWithProof, keys: readonly PublicKeyInfo[], streamedHash?: string): EntryReport {
  const checks: Check[] = [];
  const entry = served.entry as ChainEntry;
  let canonical: string | null = null;
  let leaf: Uint8Array | null = null;
  let computedHash: string | null = null;

  const problem = entryFormatProblem(entry);
  checks.push(problem ? { id: 'format', label: 'Entry format', state: 'bad', detail: problem } : { id: 'format', label: 'Entry format', state: 'ok', detail: `v${entry.v}, seq ${entry.seq}, kind ${entry.kind}` });

  try {
    const enc = encodeEntry(entry);
    canonical = enc.canonical;
    leaf = leafHash(enc.bytes, pureCrypto);
    computedHash = toHex0x(leaf);
    const same = computedHash === served.hash;
    checks.push({
      id: 'hash',
      label: 'Leaf hash of the canonical bytes',
      state: same ? 'ok' : 'bad',
      detail: same ? `SHA-256(0x00 ‖ ${enc.bytes.length} bytes) = ${computedHash}` : `computed ${computedHash}, but the log says ${served.hash}: the entry was altered`,
    });
  } catch (err) {
    checks.push({ id: 'hash', label: 'Leaf hash of the canonical bytes', state: 'bad', detail: `cannot canonicalize: ${message(err)}` });
  }

  const key = keys.find((k) => k.keyId === served.keyId);
  if (!key) {
    checks.push({ id: 'signature', label: 'Ed25519 signature', state: 'bad', detail: `key ${served.keyId} is not among the log's published keys` });
  } else if (!leaf) {
    checks.push({ id: 'signature', label: 'Ed25519 signature', state: 'bad', detail: 'no hash to check the signature against' });
  } else {
    let ok = false;
    try {
      ok = pureCrypto.verifyEd25519(fromBase64(served.sig), entrySigningMessage(leaf), fromBase64(key.publicKey, 32));
    } catch {
      ok = false;
    }
    const inRange = typeof entry.time === 'string' && keyValidAt(key, entry.time);
    checks.push({
      id: 'signature',
      label: 'Ed25519 signature',
      state: ok && inRange ? 'ok' : 'bad',
      detail: !ok ? `signature does not verify with key ${key.keyId}` : inRange ? `by key ${key.keyId} over "ainfera/entry/v1\\n" ‖ hash` : `key ${key.keyId} was not valid at ${entry.time}`,
    });
  }

  let cp: (SignedCheckpoint & { time?: string }) | null = null;
  if (served.checkpoint == null || served.proof == null) {
    checks.push({ id: 'checkpoint', label: 'Signed checkpoint', state: 'pending', detail: 'not under a signed checkpoint yet (one is cut within about a second)' });
    checks.push({ id: 'inclusion', label: 'Merkle inclusion proof', state: 'pending', detail: 'waiting for the checkpoint' });
  } else {
    try {
      cp = verifyCheckpointNote(served.checkpoint, keys);
      checks.push({ id: 'checkpoint', label: 'Signed checkpoint', state: 'ok', detail: `${cp.origin}, tree size ${cp.size}, root ${cp.rootHash.slice(0, 18)}…` });
    } catch (err) {
      checks.push({ id: 'checkpoint', label: 'Signed checkpoint', state: 'bad', detail: message(err) });
    }
    const p = served.proof;
    if (!cp || !leaf) {
      checks.push({ id: 'inclusion', label: 'Merkle inclusion proof', state: 'bad', detail: 'needs a verified checkpoint and leaf hash' });
    } else if (p.leafIndex !== entry.seq || p.treeSize !== cp.size || !p.hashes.every((h) => isHex0x(h, 32))) {
      checks.push({ id: 'inclusion', label: 'Merkle inclusion proof', state: 'bad', detail: `proof is for leaf ${p.leafIndex} of ${p.treeSize}, entry is seq ${entry.seq} and the checkpoint has size ${cp.size}` });
    } else {
      const ok = verifyInclusion(leaf, p.leafIndex, p.treeSize, p.hashes.map((h) => fromHex0x(h, 32)), fromHex0x(cp.rootHash, 32), pureCrypto);
      checks.push({
        id: 'inclusion',
        label: 'Merkle inclusion proof',
        state: ok ? 'ok' : 'bad',
        detail: ok ? `leaf ${p.leafIndex} of ${p.treeSize}, ${p.hashes.length} hashes up to the signed root` : 'the proof does not lead to the signed root',
      });
    }
  }

  if (streamedHash !== undefined) {
    const same = streamedHash === served.hash;
    checks.push({
      id: 'stream',
      label: 'Same entry as the live feed',
      state: same ? 'ok' : 'bad',
      detail: same ? 'the live trace showed the same hash' : `the live trace showed ${streamedHash}`,
    });
  }
  return { checks, canonical, computedHash, checkpoint: cp };
}

/** Overall verdict: red if any check failed, green when all passed, pending otherwise. */
export function verdict(checks: readonly Check[]): 'ok' | 'bad' | 'pending' {
  if (checks.some((c) => c.state === 'bad')) return 'bad';
  if (checks.some((c) => c.state === 'pending')) return 'pending';
  return 'ok';
}
