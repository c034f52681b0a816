// Verifier throughput: entries/s for hash + links + Merkle roots (signatures off) with nodeCrypto vs
// pureCrypto, Ed25519 verifies/s for each, full verification, and MerkleTree append/proof cost.
// Writes bench/results/chain-verify.json. N (entries) from BENCH_N, default 200000; keep it small while
// developing (BENCH_N=20000). Medians of BENCH_RUNS runs (default 3). Rates are given per wall second
// and per CPU second of this process (the machine is shared: CPU time is the steadier number).
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pureCrypto, type ChainCrypto } from '../../src/chain/crypto.js';
import { fromBase64, fromHex0x } from '../../src/chain/encoding.js';
import { buildEntry, entrySigningMessage } from '../../src/chain/entry.js';
import { formatCheckpointBody, noteVerifierKey, signNote } from '../../src/chain/checkpoint.js';
import { MerkleTree } from '../../src/chain/merkle.js';
import { createNodeSigner, nodeCrypto } from '../../src/chain/node-crypto.js';
import { deriveEntryKeyId, sealEntry } from '../../src/chain/sign.js';
import { ChainVerifier } from '../../src/chain/verify.js';
import { GENESIS_PREV, type Envelope } from '../../src/chain/types.js';
import { toBase64 } from '../../src/chain/encoding.js';

const N = Number(process.env.BENCH_N ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH = 1000;
const origin = 'bench.ainfera/chain';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let lastCpuSecs = 0;
/** Wall seconds of fn; its CPU seconds are left in lastCpuSecs. */
function timeIt(fn: () => void): number {
  const cpu = process.cpuUsage();
  const t = performance.now();
  fn();
  const wall = (performance.now() - t) / 1000;
  const u = process.cpuUsage(cpu);
  lastCpuSecs = (u.user + u.system) / 1e6;
  return wall;
}

// --- build a realistic chain (~400-500 byte entries) -------------------------------------------
const signer = createNodeSigner(new Uint8Array(32).fill(3));
const keyId = deriveEntryKeyId(signer.publicKey, nodeCrypto);
const keys = [{ keyId, algorithm: 'ed25519' as const, publicKey: toBase64(signer.publicKey), noteKey: noteVerifierKey(origin, signer.publicKey, nodeCrypto), validFrom: '2026-01-01T00:00:00.000Z', validUntil: null }];
const kinds = ['request', 'routed', 'debited', 'provider_ok', 'refunded', 'completed'];
const envelopes: Envelope[] = [];
const tree = new MerkleTree(nodeCrypto);
let prev = GENESIS_PREV;
const t0 = Date.parse('2026-11-24T12:00:00.000Z');
const buildSecs = timeIt(() => {
  for (let seq = 0; seq < N; seq++) {
    const entry = buildEntry(
      {
        kind: kinds[seq % kinds.length]!,
        agent: `agent-${seq % 50}`,
        decision: `dec_${(seq / 6) | 0}_${'x'.repeat(20)}`,
        model: 'llama-3.3-70b-versatile',
        provider: 'groq',
        fields: {
          costMicros: seq * 13,
          holdMicros: 250_000,
          inputTokens: 1200 + (seq % 300),
          outputTokens: 300 + (seq % 77),
          latencyMs: 420 + (seq % 900),
          attempt: seq % 3,
          taskType: 'code_generation',
          requestSha256: 'ab'.repeat(32),
        },
      },
      seq,
      new Date(t0 + seq).toISOString(),
      prev,
    );
    const s = sealEntry(entry, { keyId, sign: signer.sign }, nodeCrypto);
    envelopes.push(s.envelope);
    tree.append(s.leaf);
    prev = s.hash;
  }
});
const avgBytes = Math.round(JSON.stringify(envelopes.slice(0, 100).map((e) => e.entry)).length / 100);
const checkpoint = signNote(formatCheckpointBody({ origin, size: N, rootHash: tree.root(), time: new Date(t0 + N).toISOString() }), origin, signer, nodeCrypto);

function verifyRun(c: ChainCrypto, checkSignatures: boolean, n: number): [number, number] {
  const v = new ChainVerifier({ keys, crypto: c, checkSignatures });
  const cp = n === N ? checkpoint : signNote(formatCheckpointBody({ origin, size: n, rootHash: tree.rootAt(n) }), origin, signer, nodeCrypto);
  const secs = timeIt(() => {
    if (!v.addCheckpoint(cp).ok) throw new Error('checkpoint rejected');
    for (let i = 0; i < n; i += BATCH) {
      const r = v.push(envelopes.slice(i, Math.min(i + BATCH, n)));
      if (!r.ok) throw new Error(JSON.stringify(r));
    }
    const f = v.finish();
    if (!f.ok || f.checkpointsVerified !== 1) throw new Error(JSON.stringify(f));
  });
  return [n / secs, n / lastCpuSecs];
}

function sigRate(c: ChainCrypto, n: number): [number, number] {
  const items = envelopes.slice(0, n).map((e) => ({ sig: fromBase64(e.sig), msg: entrySigningMessage(fromHex0x(e.hash)) }));
  const secs = timeIt(() => {
    for (const it of items) if (!c.verifyEd25519(it.sig, it.msg, signer.publicKey)) throw new Error('bad sig');
  });
  return [n / secs, n / lastCpuSecs];
}

const pureN = Math.min(N, Number(process.env.BENCH_PURE_N ?? 20_000));
const pureSigN = Math.min(N, 1000);
const nodeSigN = Math.min(N, 20_000);

const results: Record<string, number[]> = {};
const add = (name: string, [wall, cpu]: [number, number]): void => {
  (results[`${name}_per_s`] ??= []).push(wall);
  (results[`${name}_per_cpu_s`] ??= []).push(cpu);
};
for (let r = 0; r < RUNS; r++) {
  add('verify_no_sig_node_entries', verifyRun(nodeCrypto, false, N));
  add('verify_no_sig_pure_entries', verifyRun(pureCrypto, false, pureN));
  add('verify_full_node_entries', verifyRun(nodeCrypto, true, Math.min(N, 50_000)));
  add('ed25519_verify_node', sigRate(nodeCrypto, nodeSigN));
  add('ed25519_verify_pure', sigRate(pureCrypto, pureSigN));
  const leaves = Array.from({ length: Math.min(N, 1 << 20) }, (_, i) => tree.leaf(i % N));
  const t = new MerkleTree(nodeCrypto);
  const wall = timeIt(() => leaves.forEach((l) => t.append(l)));
  add('merkle_append_node', [leaves.length / wall, leaves.length / lastCpuSecs]);
  const proofs = 2000;
  (results['merkle_inclusion_proof_us'] ??= []).push((timeIt(() => {
    for (let i = 0; i < proofs; i++) t.inclusionProof((i * 7919) % (t.size - 1), t.size - 1);
  }) * 1e6) / proofs);
}

const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(median(v))]));
const out = {
  bench: 'chain-verify',
  date: new Date().toISOString(),
  node: process.version,
  n: N,
  pureN,
  runs: RUNS,
  loadAverage1m: +loadavg()[0]!.toFixed(2),
  avgEntryJsonBytes: avgBytes,
  buildAndSignEntriesPerS: Math.round(N / buildSecs),
  medians,
  ratios: {
    node_vs_pure_no_sig: +(medians['verify_no_sig_node_entries_per_cpu_s']! / medians['verify_no_sig_pure_entries_per_cpu_s']!).toFixed(2),
    node_vs_pure_ed25519_verify: +(medians['ed25519_verify_node_per_cpu_s']! / medians['ed25519_verify_pure_per_cpu_s']!).toFixed(2),
  },
  raw: results,
  note: 'Medians on a shared 2-core machine; other engineers\' processes add noise. verify_no_sig = JCS + SHA-256 leaf + hash/prev/seq checks + Merkle frontier + checkpoint root.',
};
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../../bench/results/chain-verify.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify({ n: N, avgEntryJsonBytes: avgBytes, loadAverage1m: out.loadAverage1m, medians, ratios: out.ratios }, null, 2));
