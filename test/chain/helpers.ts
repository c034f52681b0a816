// Test helpers: a real signed chain (real Ed25519 signatures, real Merkle tree) built with the chain core.
import { formatCheckpointBody, noteVerifierKey, signNote } from '../../src/chain/checkpoint.js';
import type { ChainCrypto, Ed25519Signer } from '../../src/chain/crypto.js';
import { toBase64 } from '../../src/chain/encoding.js';
import { buildEntry } from '../../src/chain/entry.js';
import { MerkleTree } from '../../src/chain/merkle.js';
import { createNodeSigner, nodeCrypto } from '../../src/chain/node-crypto.js';
import { deriveEntryKeyId, sealEntry } from '../../src/chain/sign.js';
import { GENESIS_PREV, type Envelope, type PublicKeyInfo } from '../../src/chain/types.js';

export const ORIGIN = 'ainfera.test/chain';
export const KINDS = ['request', 'routed', 'debited', 'provider_ok', 'refunded', 'completed'] as const;

export interface TestKey {
  signer: Ed25519Signer;
  keyId: string;
  info: PublicKeyInfo;
}

export function testKey(seedByte: number, validFrom = '2026-01-01T00:00:00.000Z', validUntil: string | null = null, c: ChainCrypto = nodeCrypto): TestKey {
  const signer = createNodeSigner(new Uint8Array(32).fill(seedByte));
  const keyId = deriveEntryKeyId(signer.publicKey, c);
  return {
    signer,
    keyId,
    info: { keyId, algorithm: 'ed25519', publicKey: toBase64(signer.publicKey), noteKey: noteVerifierKey(ORIGIN, signer.publicKey, c), validFrom, validUntil },
  };
}

export function entryTime(i: number): string {
  return new Date(Date.parse('2026-11-24T12:00:00.000Z') + i * 7).toISOString();
}

export interface TestChain {
  envelopes: Envelope[];
  tree: MerkleTree;
  key: TestKey;
  keys: { keys: PublicKeyInfo[] };
  /** A validly signed checkpoint note for the first `size` entries (or for any root you give). */
  checkpoint(size: number, rootHash?: Uint8Array): string;
}

/** n entries, each a kind from KINDS with a few integer/string fields, sealed and linked. */
export function makeChain(n: number, opts: { key?: TestKey; keyFor?: (seq: number) => TestKey; c?: ChainCrypto } = {}): TestChain {
  const c = opts.c ?? nodeCrypto;
  const key = opts.key ?? testKey(42);
  const tree = new MerkleTree(c);
  const envelopes: Envelope[] = [];
  let prev = GENESIS_PREV;
  for (let seq = 0; seq < n; seq++) {
    const k = opts.keyFor ? opts.keyFor(seq) : key;
    const entry = buildEntry(
      {
        kind: KINDS[seq % KINDS.length]!,
        agent: `agent-${seq % 3}`,
        decision: `dec_${Math.floor(seq / KINDS.length)}`,
        model: 'llama-3.3-70b',
        provider: 'groq',
        fields: { costMicros: seq * 17, attempt: seq % 2, requestSha256: 'ab'.repeat(32) },
      },
      seq,
      entryTime(seq),
      prev,
    );
    const sealed = sealEntry(entry, { keyId: k.keyId, sign: (m) => k.signer.sign(m) }, c);
    envelopes.push(sealed.envelope);
    tree.append(sealed.leaf);
    prev = sealed.hash;
  }
  return {
    envelopes,
    tree,
    key,
    keys: { keys: [key.info] },
    checkpoint(size, rootHash) {
      const body = formatCheckpointBody({ origin: ORIGIN, size, rootHash: rootHash ?? tree.rootAt(size), time: entryTime(size) });
      return signNote(body, ORIGIN, key.signer, c);
    },
  };
}

/** Deep copy (tamper tests mutate copies, never the shared chain). */
export function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}
