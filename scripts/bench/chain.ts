// npm run bench:chain — append N signed entries durably on the embedded store, then verify them.
// Writes bench/results/chain.json. BENCH_N (default 100000) runs smaller while developing.
//
// Measured in the same run, so the ratios hold on whatever machine runs it:
//   raw node:crypto Ed25519 sign and verify rates (one KeyObject, one message: the ceiling);
//   durable signed entries/s: ChainAppender over SQLite (WAL, synchronous=FULL), 10k appends in flight;
//   verification entries/s with hashes, prev links, Merkle roots against the signed checkpoints
//     (ChainVerifier, checkSignatures: false), and the full verify with every signature;
//   per-entry signature checks/s: nodeCrypto.verifyEd25519 over the real entries (base64 decode and the
//     domain-separated message included), and its ratio to the raw verify rate;
//   peak RSS. Nothing here holds N of anything: events are made as they are appended and the entries
//   are streamed from the store a page at a time for each verify run (only push() is timed), so the
//   peak is the product's (appender, verifier, store) plus the process baseline, not the bench's lists.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChainAppender } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import { ChainVerifier } from '../../src/chain/verify.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { fromBase64, fromHex0x } from '../../src/chain/encoding.js';
import { entrySigningMessage } from '../../src/chain/entry.js';
import { envelopeOf } from '../../src/chain/export.js';
import type { Envelope, EventInput } from '../../src/chain/types.js';
import { openStore } from '../../src/store/index.js';

const N = Number(process.env.BENCH_N ?? 100_000);
const IN_FLIGHT = 10_000;
const PAGE = 5000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
};
const rssTimer = setInterval(sampleRss, 50);

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Each event's requestSha256 is 32 fresh random bytes, drawn up front from one buffer (N * 32 bytes)
// so the timed loop does not pay for randomBytes, and no N event objects are kept.
let randomPool = Buffer.alloc(0);

/** ~350-450 canonical bytes, like the router's entries. */
function event(i: number): EventInput {
  return {
    kind: ['request', 'routed', 'debited', 'provider_ok', 'refunded', 'completed'][i % 6]!,
    agent: `agent-${(i % 97).toString().padStart(3, '0')}`,
    decision: `dec_${Math.floor(i / 6).toString(36).padStart(16, '0')}`,
    model: 'qwen3-coder-480b-a35b-instruct',
    provider: 'together',
    fields: {
      taskType: 'code',
      costMicros: 1000 + (i % 5000),
      holdMicros: 25_000,
      tokensIn: 800 + (i % 300),
      tokensOut: 200 + (i % 900),
      latencyMs: 300 + (i % 1200),
      attempt: 1 + (i % 3),
      requestSha256: `0x${randomPool.toString('hex', i * 32, i * 32 + 32)}`,
    },
  };
}

function rawRates(): { sign: number; verify: number } {
  const seed = randomBytes(32);
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(priv);
  const msg = randomBytes(49);
  const sig = nodeSign(null, msg, priv);
  const runs = { sign: [] as number[], verify: [] as number[] };
  const n = 3000;
  for (let r = 0; r < 5; r++) {
    let t = performance.now();
    for (let i = 0; i < n; i++) nodeSign(null, msg, priv);
    runs.sign.push(n / seconds(t));
    t = performance.now();
    for (let i = 0; i < n; i++) nodeVerify(null, msg, pub, sig);
    runs.verify.push(n / seconds(t));
  }
  return { sign: median(runs.sign), verify: median(runs.verify) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ainfera-bench-chain-'));
  const loadAtStart = loadavg()[0]!;
  try {
    const raw = rawRates();
    console.error(`raw node:crypto Ed25519: sign ${raw.sign.toFixed(0)}/s, verify ${raw.verify.toFixed(0)}/s`);

    // --- append ---------------------------------------------------------------------------------
    const store = await openStore({ kind: 'embedded', dataDir: dir });
    const keys = loadSigningKeys({ dataDir: dir, create: true, env: {}, origin: 'bench.ainfera/chain' });
    const appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 1000 });
    randomPool = randomBytes(N * 32);
    sampleRss();
    const rssBeforeAppend = process.memoryUsage.rss();
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let issued = 0;
      let done = 0;
      const pump = () => {
        while (issued < N && issued - done < IN_FLIGHT) {
          appender.append(event(issued++)).then(() => {
            if (++done === N) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    const appendSec = seconds(t0);
    await appender.close();
    const stats = { ...appender.stats };
    sampleRss();
    console.error(`appended ${N} durable signed entries in ${appendSec.toFixed(2)}s: ${(N / appendSec).toFixed(0)}/s (${stats.batches} batches, ${stats.checkpoints} checkpoints)`);

    // --- verify ---------------------------------------------------------------------------------
    const checkpoints = await store.chain.checkpoints(0, 1_000_000);
    let canonicalBytes = 0;
    /** The chain as a verifier receives it (envelopes parsed from the stored canonical bytes), a page at a time. */
    async function* pages(count = N): AsyncGenerator<Envelope[]> {
      for (let from = 0; from < count; from += PAGE) {
        const rows = await store.chain.entries(from, Math.min(PAGE, count - from));
        yield rows.map(envelopeOf);
      }
    }
    for (let from = 0; from < N; from += PAGE) for (const e of await store.chain.entries(from, PAGE)) canonicalBytes += Buffer.byteLength(e.canonical);
    sampleRss();

    const verifyRun = async (checkSignatures: boolean): Promise<{ sec: number; checkpointsVerified: number }> => {
      const v = new ChainVerifier({ keys: keys.publicKeys(), crypto: nodeCrypto, checkSignatures });
      for (const cp of checkpoints) {
        const r = v.addCheckpoint(cp.note);
        if (!r.ok) throw new Error(`checkpoint ${cp.size}: ${r.reason} ${r.detail}`);
      }
      let sec = 0; // push() and finish() only: reading and parsing the pages is the transport's cost
      for await (const page of pages()) {
        const t = performance.now();
        for (let i = 0; i < page.length; i += 1000) {
          const r = v.push(page.slice(i, i + 1000));
          if (!r.ok) throw new Error(`verify failed at seq ${r.seq}: ${r.reason} ${r.detail}`);
        }
        sec += seconds(t);
      }
      const t = performance.now();
      const done = v.finish();
      sec += seconds(t);
      if (!done.ok) throw new Error(`verify failed: ${done.reason}`);
      if (done.size !== N) throw new Error(`verified ${done.size} entries, expected ${N}`);
      return { sec, checkpointsVerified: done.checkpointsVerified };
    };
    const noSig = [await verifyRun(false), await verifyRun(false), await verifyRun(false)];
    const noSigSec = median(noSig.map((r) => r.sec));
    console.error(`verified hashes, links and Merkle roots against ${noSig[0]!.checkpointsVerified} signed checkpoints: ${(N / noSigSec).toFixed(0)} entries/s`);
    const full = await verifyRun(true);
    console.error(`full verify with every signature: ${(N / full.sec).toFixed(0)} entries/s`);

    // Signature checks alone, on the real entries (decode + message + verify), as the verifier does them,
    // interleaved with the raw rate (same key, one fixed message) so background load hits both alike.
    const pub = keys.publicKey;
    // The loop below cycles through the first 7 * CHUNK entries: load just those.
    const CHUNK = 2000;
    const prepared: { sig: string; hash: string; seq: number }[] = [];
    for await (const page of pages(Math.min(N, 7 * CHUNK))) for (const e of page) prepared.push({ sig: e.sig, hash: e.hash, seq: e.entry.seq });
    await store.close();
    const sigRuns: number[] = [];
    const rawRuns: number[] = [];
    const rawKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(pub)]), format: 'der', type: 'spki' });
    const rawMsg = Buffer.from(entrySigningMessage(fromHex0x(prepared[0]!.hash, 32)));
    const rawSig = Buffer.from(fromBase64(prepared[0]!.sig, 64));
    for (let r = 0, at = 0; r < 7; r++) {
      let t = performance.now();
      for (let i = 0; i < CHUNK; i++) nodeVerify(null, rawMsg, rawKey, rawSig);
      rawRuns.push(CHUNK / seconds(t));
      t = performance.now();
      for (let i = 0; i < CHUNK; i++, at = (at + 1) % prepared.length) {
        const e = prepared[at]!;
        if (!nodeCrypto.verifyEd25519(fromBase64(e.sig, 64), entrySigningMessage(fromHex0x(e.hash, 32)), pub)) throw new Error(`bad signature at ${e.seq}`);
      }
      sigRuns.push(CHUNK / seconds(t));
    }
    const sigRate = median(sigRuns);
    const rawVerify = median(rawRuns);
    console.error(`signature checks: ${sigRate.toFixed(0)}/s vs raw verify ${rawVerify.toFixed(0)}/s (ratio ${(sigRate / rawVerify).toFixed(3)})`);
    sampleRss();

    const result = {
      bench: 'chain',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        availableParallelism: availableParallelism(),
        model: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        // The machine is shared: other processes' load skews absolute rates (ratios measured side by side hold better).
        loadAverage1m: { start: Number(loadAtStart.toFixed(2)), end: Number(loadavg()[0]!.toFixed(2)) },
      },
      n: N,
      avgCanonicalBytes: Math.round(canonicalBytes / N),
      append: {
        durableSignedEntriesPerSec: Math.round(N / appendSec),
        seconds: Number(appendSec.toFixed(3)),
        inFlight: IN_FLIGHT,
        batches: stats.batches,
        avgBatch: Math.round(N / stats.batches),
        conflicts: stats.conflicts,
        checkpointsCut: stats.checkpoints,
        store: 'embedded SQLite, WAL, synchronous=FULL (one fsync per batch)',
        target: 20_000,
        meetsTarget: N / appendSec >= 20_000,
      },
      verify: {
        entriesPerSecAgainstCheckpoints: Math.round(N / noSigSec),
        what: 'JCS + leaf hash + entry format + seq/prev links + Merkle frontier, roots matched to every signed checkpoint (signatures of checkpoints checked); entry signatures off',
        checkpointsVerified: noSig[0]!.checkpointsVerified,
        runsSeconds: noSig.map((r) => Number(r.sec.toFixed(3))),
        target: 100_000,
        meetsTarget: N / noSigSec >= 100_000,
        fullWithSignaturesEntriesPerSec: Math.round(N / full.sec),
      },
      signatures: {
        perEntryChecksPerSec: Math.round(sigRate),
        rawNodeVerifyPerSec: Math.round(rawVerify),
        rawNodeSignPerSec: Math.round(raw.sign),
        ratioToRaw: Number((sigRate / rawVerify).toFixed(3)),
        target: 'within 20% of raw (ratio >= 0.8)',
        meetsTarget: sigRate / rawVerify >= 0.8,
      },
      peakRssMB: Math.round(peakRss / 1024 / 1024),
      // Node + tsx + the open store + the signing workers, before the first append.
      rssBeforeAppendMB: Math.round(rssBeforeAppend / 1024 / 1024),
    };
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    writeFileSync(join(root, 'bench', 'results', 'chain.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    clearInterval(rssTimer);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
