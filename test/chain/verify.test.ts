// The third-party verifier on a real signed chain: honest runs pass; each kind of tampering is named
// with the right seq (or checkpoint size) and reason.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatCheckpointBody, signNote } from '../../src/chain/checkpoint.js';
import { pureCrypto } from '../../src/chain/crypto.js';
import { fromBase64, toBase64, toHex0x } from '../../src/chain/encoding.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { sealEntry } from '../../src/chain/sign.js';
import { ChainVerifier, VerifierConfigError, type VerifyFailure } from '../../src/chain/verify.js';
import { ORIGIN, clone, entryTime, makeChain, testKey } from './helpers.js';

const N = 60;
const chain = makeChain(N);
const cp10 = chain.checkpoint(10);
const cp37 = chain.checkpoint(37);
const cp60 = chain.checkpoint(60);

function verifier(opts: { checkSignatures?: boolean; crypto?: typeof nodeCrypto } = {}): ChainVerifier {
  return new ChainVerifier({ keys: chain.keys, crypto: opts.crypto ?? nodeCrypto, ...(opts.checkSignatures === undefined ? {} : { checkSignatures: opts.checkSignatures }) });
}

/** Stream envelopes in batches of `batch` with the given checkpoints registered first; return the outcome. */
function run(envelopes: unknown[], checkpoints: string[] = [cp60], batch = 7, v = verifier()) {
  for (const cp of checkpoints) {
    const r = v.addCheckpoint(cp);
    if (!r.ok) return r;
  }
  for (let i = 0; i < envelopes.length; i += batch) {
    const r = v.push(envelopes.slice(i, i + batch));
    if (!r.ok) return r;
  }
  return v.finish();
}

function expectFailure(result: unknown, reason: VerifyFailure['reason'], where: { seq?: number; checkpointSize?: number }) {
  const r = result as VerifyFailure;
  expect(r.ok, JSON.stringify(r)).toBe(false);
  expect(r.reason, r.detail).toBe(reason);
  if (where.seq !== undefined) expect(r.seq).toBe(where.seq);
  if (where.checkpointSize !== undefined) expect(r.checkpointSize).toBe(where.checkpointSize);
  expect(r.detail.length).toBeGreaterThan(0);
}

describe('honest chain', () => {
  it('verifies every entry, link, signature and checkpoint root', () => {
    const r = run(chain.envelopes, [cp10, cp37, cp60]);
    expect(r).toMatchObject({ ok: true, size: N, checkpointsVerified: 3, signaturesChecked: true });
    if (!r.ok) throw new Error('unreachable');
    expect(r.root).toBe(toHex0x(chain.tree.root()));
    expect(r.latestCheckpoint?.size).toBe(60);
  });

  it('the pure (browser) crypto reaches the same verdict', () => {
    const r = run(chain.envelopes.slice(0, 37), [cp10, cp37], 5, verifier({ crypto: pureCrypto }));
    expect(r).toMatchObject({ ok: true, size: 37, checkpointsVerified: 2 });
  });

  it('any batching gives the same result', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 61 }), (batch) => {
        expect(run(chain.envelopes, [cp37, cp60], batch, verifier({ checkSignatures: false }))).toMatchObject({ ok: true, size: N });
      }),
      { numRuns: 15 },
    );
  });

  it('checkpoint added when the stream is exactly at its size is checked at once; entries may run past the latest checkpoint', () => {
    const v = verifier();
    expect(v.push(chain.envelopes.slice(0, 37))).toEqual({ ok: true, size: 37 });
    expect(v.addCheckpoint(cp37)).toMatchObject({ ok: true, status: 'verified' });
    expect(v.push(chain.envelopes.slice(37))).toEqual({ ok: true, size: 60 });
    expect(v.finish()).toMatchObject({ ok: true, size: 60, checkpointsVerified: 1 });
  });

  it('the same checkpoint twice is fine', () => {
    expect(run(chain.envelopes, [cp37, cp37, cp60])).toMatchObject({ ok: true, checkpointsVerified: 2 });
  });

  it('accepts a key rotation: old key valid until the switch, new key after', () => {
    const switchAt = entryTime(30);
    const oldKey = testKey(1, '2026-01-01T00:00:00.000Z', switchAt);
    const newKey = testKey(2, switchAt);
    const rotated = makeChain(40, { key: newKey, keyFor: (seq) => (seq < 30 ? oldKey : newKey) });
    const v = new ChainVerifier({ keys: [newKey.info, oldKey.info], crypto: nodeCrypto });
    expect(run(rotated.envelopes, [rotated.checkpoint(40)], 9, v)).toMatchObject({ ok: true, size: 40, checkpointsVerified: 1 });
    // The old key signing after its validity is caught.
    const late = makeChain(40, { key: newKey, keyFor: (seq) => (seq < 35 ? oldKey : newKey) });
    const v2 = new ChainVerifier({ keys: [newKey.info, oldKey.info], crypto: nodeCrypto });
    expectFailure(run(late.envelopes, [], 9, v2), 'key_not_valid', { seq: 31 });
  });
});

describe('tampered entries', () => {
  it('one byte of an entry flipped -> hash_mismatch at that seq', () => {
    const t = clone(chain.envelopes);
    t[17]!.entry.agent = t[17]!.entry.agent.replace('agent', 'agenu');
    expectFailure(run(t), 'hash_mismatch', { seq: 17 });
    const t2 = clone(chain.envelopes);
    (t2[23]!.entry.costMicros as number) += 1;
    expectFailure(run(t2), 'hash_mismatch', { seq: 23 });
  });

  it('an added field -> hash_mismatch', () => {
    const t = clone(chain.envelopes);
    t[5]!.entry.note = 'x';
    expectFailure(run(t), 'hash_mismatch', { seq: 5 });
  });

  it('entry changed and hash recomputed (no key to re-sign) -> bad_signature', () => {
    const t = clone(chain.envelopes);
    t[12]!.entry.model = 'gpt-5';
    const v = verifier();
    const recomputed = v.verifyEnvelope({ ...t[12]!, hash: '0x' + '0'.repeat(64) });
    expect(recomputed).toMatchObject({ ok: false, reason: 'hash_mismatch' });
    const detail = (recomputed as VerifyFailure).detail;
    t[12]!.hash = /is (0x[0-9a-f]{64})/.exec(detail)![1]!;
    expectFailure(run(t), 'bad_signature', { seq: 12 });
  });

  it('signature bit flipped -> bad_signature; not seen when signature checks are off', () => {
    const t = clone(chain.envelopes);
    const sig = fromBase64(t[40]!.sig);
    sig[3]! ^= 0x20;
    t[40]!.sig = toBase64(sig);
    expectFailure(run(t), 'bad_signature', { seq: 40 });
    expect(run(t, [cp60], 7, verifier({ checkSignatures: false }))).toMatchObject({ ok: true, signaturesChecked: false });
  });

  it('two entries swapped -> seq_out_of_order at the first', () => {
    const t = clone(chain.envelopes);
    [t[20], t[21]] = [t[21]!, t[20]!];
    expectFailure(run(t), 'seq_out_of_order', { seq: 20 });
  });

  it('one entry deleted -> seq_gap at its seq', () => {
    const t = clone(chain.envelopes);
    t.splice(30, 1);
    expectFailure(run(t), 'seq_gap', { seq: 30 });
  });

  it('swaps and deletions are named the same whatever the batch boundaries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: N - 3 }), fc.integer({ min: 1, max: 20 }), (i, batch) => {
        const swapped = [...chain.envelopes];
        [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
        expectFailure(run(swapped, [cp60], batch, verifier({ checkSignatures: false })), 'seq_out_of_order', { seq: i });
        const deleted = [...chain.envelopes];
        deleted.splice(i, 1);
        expectFailure(run(deleted, [cp60], batch, verifier({ checkSignatures: false })), 'seq_gap', { seq: i });
      }),
      { numRuns: 40 },
    );
  });

  it('an entry repeated -> seq_out_of_order', () => {
    const t = clone(chain.envelopes);
    t.splice(8, 0, t[7]!);
    expectFailure(run(t), 'seq_out_of_order', { seq: 8 });
  });

  it('tail truncated below a checkpoint -> truncated at the first missing seq', () => {
    expectFailure(run(chain.envelopes.slice(0, 50), [cp37, cp60]), 'truncated', { seq: 50, checkpointSize: 60 });
  });

  it('an entry rewritten and re-signed by the key holder -> prev_mismatch at the next seq', () => {
    const t = clone(chain.envelopes);
    const rewritten = { ...t[30]!.entry, attempt: 7 };
    t[30] = sealEntry(rewritten, { keyId: chain.key.keyId, sign: (m) => chain.key.signer.sign(m) }, nodeCrypto).envelope;
    expect(verifier().verifyEnvelope(t[30])).toMatchObject({ ok: true }); // valid on its own...
    expectFailure(run(t, []), 'prev_mismatch', { seq: 31 }); // ...but the chain no longer links
  });

  it('unknown key -> unknown_key', () => {
    const stranger = testKey(99);
    const t = makeChain(5, { key: stranger }).envelopes;
    expectFailure(run(t, []), 'unknown_key', { seq: 0 });
  });

  it('malformed envelopes and entries', () => {
    expectFailure(run([null], []), 'malformed_envelope', { seq: 0 });
    expectFailure(run([{ entry: chain.envelopes[0]!.entry, hash: 1, sig: 'x', keyId: 'y' }], []), 'malformed_envelope', { seq: 0 });
    const t = clone(chain.envelopes.slice(0, 3));
    (t[1]!.entry as Record<string, unknown>).cost = 1.5;
    expectFailure(run(t, []), 'malformed_entry', { seq: 1 });
    const t2 = clone(chain.envelopes.slice(0, 3));
    t2[2]!.entry.v = 2;
    expectFailure(run(t2, []), 'malformed_entry', { seq: 2 });
  });

  it('the first failure is sticky', () => {
    const t = clone(chain.envelopes);
    t[3]!.entry.agent = 'mallory';
    const v = verifier();
    const first = v.push(t.slice(0, 10));
    expectFailure(first, 'hash_mismatch', { seq: 3 });
    expect(v.push(chain.envelopes.slice(10))).toBe(first);
    expect(v.addCheckpoint(cp60)).toBe(first);
    expect(v.finish()).toBe(first);
  });
});

describe('checkpoints', () => {
  it('forked checkpoint (same size, other root, validly signed) -> inconsistent_checkpoint', () => {
    const fork = chain.checkpoint(37, chain.tree.rootAt(36));
    const v = verifier();
    expect(v.addCheckpoint(cp37).ok).toBe(true);
    expectFailure(v.addCheckpoint(fork), 'inconsistent_checkpoint', { checkpointSize: 37 });
  });

  it('forked checkpoint alone -> root_mismatch when the stream reaches its size', () => {
    const fork = chain.checkpoint(37, chain.tree.rootAt(36));
    expectFailure(run(chain.envelopes, [fork]), 'root_mismatch', { seq: 36, checkpointSize: 37 });
  });

  it('rolled-back checkpoint (smaller than one already seen) -> checkpoint_rollback', () => {
    const v = verifier();
    expect(v.addCheckpoint(cp60).ok).toBe(true);
    expectFailure(v.addCheckpoint(cp37), 'checkpoint_rollback', { checkpointSize: 37 });
  });

  it('checkpoint not signed by a published key, or altered -> checkpoint_signature', () => {
    const stranger = testKey(77);
    const body = formatCheckpointBody({ origin: ORIGIN, size: 60, rootHash: chain.tree.root() });
    expectFailure(verifier().addCheckpoint(signNote(body, ORIGIN, stranger.signer)), 'checkpoint_signature', { checkpointSize: 60 });
    expectFailure(verifier().addCheckpoint(cp60.replace('\n60\n', '\n61\n')), 'checkpoint_signature', { checkpointSize: 61 });
    // Right key, but the origin is not the key's name.
    const renamed = signNote(formatCheckpointBody({ origin: 'elsewhere.example/log', size: 60, rootHash: chain.tree.root() }), ORIGIN, chain.key.signer);
    expectFailure(verifier().addCheckpoint(renamed), 'checkpoint_signature', { checkpointSize: 60 });
    expectFailure(verifier().addCheckpoint('garbage'), 'malformed_checkpoint', {});
  });

  it('checkpoint signed by a key outside its validity -> key_not_valid', () => {
    const expired = testKey(5, '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z');
    const v = new ChainVerifier({ keys: [expired.info], crypto: nodeCrypto });
    const note = signNote(formatCheckpointBody({ origin: ORIGIN, size: 0, rootHash: nodeCrypto.sha256(new Uint8Array()), time: '2026-11-24T00:00:00.000Z' }), ORIGIN, expired.signer);
    expectFailure(v.addCheckpoint(note), 'key_not_valid', { checkpointSize: 0 });
  });

  it('adding a checkpoint after streaming past its size is a usage error, not a verdict', () => {
    const v = verifier();
    v.push(chain.envelopes.slice(0, 40));
    expect(() => v.addCheckpoint(cp37)).toThrow(VerifierConfigError);
  });
});

describe('proofs', () => {
  it('served entry with inclusion proof verifies; wrong index, size or hashes do not', () => {
    const v = verifier({ crypto: pureCrypto });
    const seq = 23;
    const proof = { leafIndex: seq, treeSize: 37, hashes: chain.tree.inclusionProof(seq, 37).map(toHex0x) };
    const served = { ...chain.envelopes[seq]!, proof, checkpoint: cp37 };
    expect(v.verifyServedEntry(served)).toMatchObject({ ok: true, seq, hash: chain.envelopes[seq]!.hash, signatureChecked: true });
    expectFailure(v.verifyServedEntry({ ...served, proof: { ...proof, leafIndex: 22 } }), 'bad_inclusion_proof', { seq });
    expectFailure(v.verifyServedEntry({ ...served, proof: { ...proof, treeSize: 60 } }), 'bad_inclusion_proof', { seq });
    expectFailure(v.verifyServedEntry({ ...served, checkpoint: cp60 }), 'bad_inclusion_proof', { seq, checkpointSize: 60 });
    const bad = [...proof.hashes];
    bad[1] = bad[1]!.replace(/.$/, (ch) => (ch === '0' ? '1' : '0'));
    expectFailure(v.verifyServedEntry({ ...served, proof: { ...proof, hashes: bad } }), 'bad_inclusion_proof', { seq });
    const tampered = clone(served);
    tampered.entry.agent = 'mallory';
    expectFailure(v.verifyServedEntry(tampered), 'hash_mismatch', { seq });
    expectFailure(v.verifyServedEntry({ ...chain.envelopes[seq]! }), 'malformed_envelope', {});
  });

  it('consistency proof between checkpoints; forks and rollbacks are named', () => {
    const v = verifier();
    const proof = chain.tree.consistencyProof(37, 60).map(toHex0x);
    expect(v.verifyConsistencyProof(cp37, cp60, proof)).toMatchObject({ ok: true });
    expectFailure(v.verifyConsistencyProof(cp60, cp37, proof), 'checkpoint_rollback', { checkpointSize: 37 });
    const fork = chain.checkpoint(60, chain.tree.rootAt(59));
    expectFailure(v.verifyConsistencyProof(cp37, fork, proof), 'inconsistent_checkpoint', { checkpointSize: 60 });
    expectFailure(v.verifyConsistencyProof(cp37, cp60, proof.slice(1)), 'inconsistent_checkpoint', { checkpointSize: 60 });
    expectFailure(v.verifyConsistencyProof(cp37, cp60, ['0xzz']), 'inconsistent_checkpoint', { checkpointSize: 60 });
    expect(v.verifyConsistencyProof(cp10, cp10, [])).toMatchObject({ ok: true });
  });
});

describe('key set', () => {
  it('rejects unusable key lists', () => {
    expect(() => new ChainVerifier({ keys: [] })).toThrow(VerifierConfigError);
    expect(() => new ChainVerifier({ keys: [{ ...chain.key.info, publicKey: 'AAAA' }] })).toThrow(/publicKey/);
    expect(() => new ChainVerifier({ keys: [{ ...chain.key.info, noteKey: testKey(3).info.noteKey }] })).toThrow(/different public key/);
    expect(() => new ChainVerifier({ keys: [chain.key.info, chain.key.info] })).toThrow(/duplicate/);
    expect(() => new ChainVerifier({ keys: [{ ...chain.key.info, validFrom: 'soon' }] })).toThrow(/validFrom/);
  });
});

describe('empty-tree checkpoint (size 0, root = SHA-256 of the empty string, RFC 9162)', () => {
  const EMPTY_ROOT = '0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

  it('verifies at once before any entry, and the stream goes on from it', () => {
    const v = verifier();
    const r0 = v.addCheckpoint(chain.checkpoint(0));
    expect(r0).toMatchObject({ ok: true, status: 'verified', checkpoint: { size: 0 } });
    if (!r0.ok) throw new Error('unreachable');
    expect(toHex0x(r0.checkpoint.rootHash)).toBe(EMPTY_ROOT);
    expect(run(chain.envelopes, [cp10, cp60], 7, v)).toMatchObject({ ok: true, size: N, checkpointsVerified: 3 });
  });

  it('an empty chain with only that checkpoint verifies', () => {
    expect(run([], [chain.checkpoint(0)])).toMatchObject({ ok: true, size: 0, root: EMPTY_ROOT, checkpointsVerified: 1 });
  });

  it('a size-0 checkpoint over any other root is a root_mismatch', () => {
    expectFailure(run(chain.envelopes, [chain.checkpoint(0, new Uint8Array(32))]), 'root_mismatch', { checkpointSize: 0 });
  });

  it('a size-0 checkpoint after a larger one is a rollback', () => {
    expectFailure(run(chain.envelopes, [cp10, chain.checkpoint(0)]), 'checkpoint_rollback', { checkpointSize: 0 });
  });
});
