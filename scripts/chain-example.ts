// The worked example in docs/chain-format.md, computed with the real chain code from a fixed seed and
// fixed times, so it is deterministic. test/chain/chain-format-doc.test.ts re-runs it and fails if the
// doc's numbers drift. Regenerate the doc section with:  npx tsx scripts/chain-example.ts --write
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatCheckpointBody, noteKeyId, noteVerifierKey, signNote } from '../src/chain/checkpoint.js';
import { createPureSigner, pureCrypto } from '../src/chain/crypto.js';
import { toBase64, toHex, toHex0x, utf8Encode } from '../src/chain/encoding.js';
import { buildEntry, encodeEntry, entrySigningMessage } from '../src/chain/entry.js';
import { nodeHash } from '../src/chain/hash.js';
import { MerkleTree } from '../src/chain/merkle.js';
import { deriveEntryKeyId, sealEntry } from '../src/chain/sign.js';
import { GENESIS_PREV, type EventInput, type PublicKeyInfo } from '../src/chain/types.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

export const EXAMPLE_ORIGIN = 'ainfera.example/chain';
export const EXAMPLE_SEED_LABEL = 'ainfera chain-format example key (public, never use it)';
const TIMES = ['2026-11-24T13:12:10.123Z', '2026-11-24T13:12:10.125Z', '2026-11-24T13:12:10.967Z'];
const CHECKPOINT_TIME = '2026-11-24T13:12:11.000Z';
const KEY_VALID_FROM = '2026-11-01T00:00:00.000Z';
/** A fixed, public salt so the example is reproducible; real salts are 32 random bytes per decision. */
const EXAMPLE_REQUEST_SALT = pureCrypto.sha256(utf8Encode('ainfera chain-format example request salt'));

const EVENTS: EventInput[] = [
  {
    kind: 'request',
    agent: 'ada',
    decision: 'dec_01JDX3Q8',
    // The request is committed to with a salted HMAC (section 9): the salt stays private with the agent.
    fields: { requestCommitment: toHex0x(hmac(sha256, EXAMPLE_REQUEST_SALT, utf8Encode('{"messages":[...]} (the request body is never on the chain)'))), taskType: 'code', maxCostMicros: 50_000 },
  },
  { kind: 'routed', agent: 'ada', decision: 'dec_01JDX3Q8', model: 'qwen-2.5-coder-32b', provider: 'groq', fields: { candidates: 7, expectedCostMicros: 1_234 } },
  { kind: 'completed', agent: 'ada', decision: 'dec_01JDX3Q8', model: 'qwen-2.5-coder-32b', provider: 'groq', fields: { costMicros: 1_180, latencyMs: 842, outputTokens: 212 } },
];

export function buildChainExample() {
  const seed = pureCrypto.sha256(utf8Encode(EXAMPLE_SEED_LABEL));
  const signer = createPureSigner(seed);
  const keyId = deriveEntryKeyId(signer.publicKey);
  const noteKey = noteVerifierKey(EXAMPLE_ORIGIN, signer.publicKey);
  const keys: { keys: PublicKeyInfo[] } = {
    keys: [{ keyId, algorithm: 'ed25519', publicKey: toBase64(signer.publicKey), noteKey, validFrom: KEY_VALID_FROM, validUntil: null }],
  };

  const tree = new MerkleTree();
  let prev = GENESIS_PREV;
  const entries = EVENTS.map((input, seq) => {
    const entry = buildEntry(input, seq, TIMES[seq]!, prev);
    const { canonical, bytes } = encodeEntry(entry);
    const leafInput = new Uint8Array([0x00, ...bytes]);
    const sealed = sealEntry(entry, { keyId, sign: signer.sign });
    const signingMessage = entrySigningMessage(sealed.leaf);
    tree.append(sealed.leaf);
    prev = sealed.hash;
    return { entry, canonical, canonicalHex: toHex(bytes), leafInputHexPrefix: toHex(leafInput.slice(0, 8)), hash: sealed.hash, signingMessageHex: toHex(signingMessage), envelope: sealed.envelope };
  });

  const [l0, l1, l2] = entries.map((e) => tree.leaf(e.entry.seq));
  const n01 = nodeHash(l0!, l1!);
  const root = nodeHash(n01, l2!);
  if (toHex(root) !== toHex(tree.root())) throw new Error('example root disagrees with MerkleTree');
  const body = formatCheckpointBody({ origin: EXAMPLE_ORIGIN, size: 3, rootHash: root, time: CHECKPOINT_TIME });
  const checkpoint = signNote(body, EXAMPLE_ORIGIN, signer);

  return {
    origin: EXAMPLE_ORIGIN,
    seedHex: toHex(seed),
    publicKeyHex: toHex(signer.publicKey),
    publicKeyBase64: toBase64(signer.publicKey),
    keyId,
    noteKeyIdHex: toHex(noteKeyId(EXAMPLE_ORIGIN, signer.publicKey)),
    noteKey,
    keys,
    entries,
    tree: {
      leaves: [l0!, l1!, l2!].map(toHex0x),
      node01: toHex0x(n01),
      root: toHex0x(root),
      rootBase64: toBase64(root),
      inclusionProofSeq2: tree.inclusionProof(2, 3).map(toHex0x),
      inclusionProofSeq0: tree.inclusionProof(0, 3).map(toHex0x),
      consistencyProof2to3: tree.consistencyProof(2, 3).map(toHex0x),
      root2: toHex0x(tree.rootAt(2)),
    },
    checkpointBody: body,
    checkpoint,
  };
}

function wrap(hex: string, width = 64): string {
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += width) out.push(hex.slice(i, i + width));
  return out.join('\n');
}

/** The generated section of docs/chain-format.md (between the BEGIN/END markers). */
export function renderExampleMarkdown(ex = buildChainExample()): string {
  const [e0, e1, e2] = ex.entries;
  const lines = [
    `Everything below is produced by \`scripts/chain-example.ts\` with the real chain code; a test re-runs it and fails if this section is stale.`,
    '',
    '### Key',
    '',
    `Ed25519 seed (RFC 8032 private key) = SHA-256("${EXAMPLE_SEED_LABEL}"):`,
    '```',
    ex.seedHex,
    '```',
    `Public key: \`${ex.publicKeyHex}\` (base64 \`${ex.publicKeyBase64}\`).`,
    `Entry key id (\`keyId\`, first 8 bytes of SHA-256(public key), hex): \`${ex.keyId}\`.`,
    `Checkpoint key id (signed-note, SHA-256("${ex.origin}" ‖ 0x0A ‖ 0x01 ‖ public key)[:4]): \`${ex.noteKeyIdHex}\`.`,
    '',
    '`GET /v1/audit/keys`:',
    '```json',
    JSON.stringify(ex.keys, null, 2),
    '```',
    '',
    '### Entry 0: from JSON to signature',
    '',
    'The signed object (as it appears in the envelope; member order does not matter):',
    '```json',
    JSON.stringify(e0!.entry, null, 2),
    '```',
    'RFC 8785 canonical form (members sorted by UTF-16 code units, no white space):',
    '```',
    e0!.canonical,
    '```',
    `Its UTF-8 bytes (${e0!.canonicalHex.length / 2} bytes), hex:`,
    '```',
    wrap(e0!.canonicalHex),
    '```',
    `Leaf hash = SHA-256(0x00 ‖ those bytes) (the input starts \`${e0!.leafInputHexPrefix}…\`):`,
    '```',
    e0!.hash,
    '```',
    'Signing message = UTF-8 `ainfera/entry/v1\\n` (17 bytes) ‖ the 32 hash bytes, hex:',
    '```',
    wrap(e0!.signingMessageHex),
    '```',
    'Envelope (`sig` = base64 of the 64-byte Ed25519 signature over that message):',
    '```json',
    JSON.stringify(e0!.envelope, null, 2),
    '```',
    '',
    '### Entries 1 and 2',
    '',
    'Each `prev` is the previous entry\'s `hash`:',
    '```json',
    JSON.stringify(e1!.envelope, null, 2),
    '```',
    '```json',
    JSON.stringify(e2!.envelope, null, 2),
    '```',
    'Canonical forms:',
    '```',
    e1!.canonical,
    e2!.canonical,
    '```',
    '',
    '### The 3-entry tree',
    '',
    '```',
    `leaf 0 = ${ex.tree.leaves[0]}`,
    `leaf 1 = ${ex.tree.leaves[1]}`,
    `leaf 2 = ${ex.tree.leaves[2]}`,
    `node(0,1) = SHA-256(0x01 ‖ leaf 0 ‖ leaf 1) = ${ex.tree.node01}`,
    `root      = SHA-256(0x01 ‖ node(0,1) ‖ leaf 2) = ${ex.tree.root}`,
    `root (base64, as in the checkpoint) = ${ex.tree.rootBase64}`,
    `root of the first 2 entries = node(0,1) = ${ex.tree.root2}`,
    '```',
    `Inclusion proof of seq 2 in the tree of size 3: \`${JSON.stringify(ex.tree.inclusionProofSeq2)}\`; of seq 0: \`${JSON.stringify(ex.tree.inclusionProofSeq0)}\`.`,
    `Consistency proof from size 2 to size 3: \`${JSON.stringify(ex.tree.consistencyProof2to3)}\`.`,
    '',
    '### Checkpoint',
    '',
    'Note text (the signed bytes, exactly):',
    '```',
    ex.checkpointBody.trimEnd(),
    '```',
    `Full signed note as served by \`GET /v1/audit/checkpoint\` (the signature line is base64 of the 4-byte key id \`${ex.noteKeyIdHex}\` ‖ the 64-byte Ed25519 signature over the note text):`,
    '```',
    ex.checkpoint.trimEnd(),
    '```',
  ];
  return lines.join('\n');
}

export const DOC_BEGIN = '<!-- BEGIN GENERATED EXAMPLE: scripts/chain-example.ts -->';
export const DOC_END = '<!-- END GENERATED EXAMPLE -->';

/** The doc with its generated section replaced by a fresh rendering. */
export function updateDoc(doc: string, section = renderExampleMarkdown()): string {
  const a = doc.indexOf(DOC_BEGIN);
  const b = doc.indexOf(DOC_END);
  if (a < 0 || b < a) throw new Error('docs/chain-format.md has no generated-example markers');
  return `${doc.slice(0, a + DOC_BEGIN.length)}\n${section}\n${doc.slice(b)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const docPath = fileURLToPath(new URL('../docs/chain-format.md', import.meta.url));
  if (process.argv.includes('--write')) {
    writeFileSync(docPath, updateDoc(readFileSync(docPath, 'utf8')));
    console.log(`updated ${docPath}`);
  } else {
    console.log(renderExampleMarkdown());
  }
}
