// The public audit endpoints over real HTTP on 127.0.0.1:0, a real SQLite store and real signatures.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/chain/canonical.js';
import { parseNoteVerifierKey, verifyCheckpoint } from '../../src/chain/checkpoint.js';
import { fromBase64, fromHex0x, utf8Encode } from '../../src/chain/encoding.js';
import { entrySigningMessage } from '../../src/chain/entry.js';
import { leafHash } from '../../src/chain/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/chain/merkle.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { ProofService } from '../../src/chain/proofs.js';
import type { Envelope, PublicKeyInfo } from '../../src/chain/types.js';
import { createAuditHandler } from '../../src/server/audit-routes.js';
import { event, openChain, tempDir } from '../chain/appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
let chain: Awaited<ReturnType<typeof openChain>>;
let proofs: ProofService;
let server: Server;
let base: string;
const sizes: number[] = [];

beforeAll(async () => {
  tmp = tempDir('ainfera-audit-');
  chain = await openChain(tmp.dir);
  for (const n of [37, 100, 64]) {
    await Promise.all(Array.from({ length: n }, (_, i) => chain.appender.append(event(sizes.length * 1000 + i))));
    sizes.push((await chain.appender.checkpoint())!.size);
  }
  // Entries beyond the latest checkpoint: served, but not yet provable.
  await Promise.all(Array.from({ length: 5 }, (_, i) => chain.appender.append(event(9000 + i))));
  proofs = await ProofService.open(chain.store.chain);
  const handler = createAuditHandler({ chain: chain.store.chain, proofs, publicKeys: () => chain.keys.publicKeys() });
  server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not ours');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  proofs.close();
  await chain.close();
  tmp.cleanup();
});

const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
async function json<T>(path: string): Promise<T> {
  const r = await get(path);
  expect(r.status, path).toBe(200);
  return (await r.json()) as T;
}

function checkEnvelope(env: Envelope, keys: PublicKeyInfo[]): void {
  const leaf = leafHash(utf8Encode(canonicalJson(env.entry)), nodeCrypto);
  expect(env.hash).toBe(`0x${Buffer.from(leaf).toString('hex')}`);
  const key = keys.find((k) => k.keyId === env.keyId)!;
  expect(nodeCrypto.verifyEd25519(fromBase64(env.sig), entrySigningMessage(leaf), fromBase64(key.publicKey))).toBe(true);
}

describe('public audit endpoints', () => {
  it('GET /v1/audit/keys lists the public key with its note key', async () => {
    const { keys } = await json<{ keys: PublicKeyInfo[] }>('/v1/audit/keys');
    expect(keys).toEqual(chain.keys.publicKeys());
    expect(keys[0]).toMatchObject({ keyId: chain.keys.keyId, algorithm: 'ed25519', validUntil: null });
  });

  it('pages through every entry in seq order; each envelope is the stored canonical entry and verifies', async () => {
    const { keys } = await json<{ keys: PublicKeyInfo[] }>('/v1/audit/keys');
    const all: Envelope[] = [];
    let from: number | null = 0;
    while (from !== null) {
      const page: { entries: Envelope[]; next: number | null } = await json(`/v1/audit/public?from=${from}&limit=60`);
      all.push(...page.entries);
      from = page.next;
    }
    expect(all.map((e) => e.entry.seq)).toEqual([...Array(206).keys()]);
    for (const env of all) checkEnvelope(env, keys);
    const stored = await chain.store.chain.entry(150);
    expect(canonicalJson(all[150]!.entry)).toBe(stored!.canonical);
    const full = await get('/v1/audit/public?from=0&limit=60');
    expect(full.headers.get('cache-control')).toContain('immutable');
    const tail = await get('/v1/audit/public?from=200&limit=60');
    expect(tail.headers.get('cache-control')).toBe('no-cache');
    expect(((await tail.json()) as { next: unknown }).next).toBeNull();
  });

  it('GET /v1/audit/public/SEQ serves an inclusion proof that verifies against the served signed checkpoint', async () => {
    const noteKeys = chain.keys.publicKeys().map((k) => parseNoteVerifierKey(k.noteKey));
    for (const seq of [0, 36, 137, 200]) {
      const r = await json<Envelope & { proof: { leafIndex: number; treeSize: number; hashes: string[] }; checkpoint: string }>(`/v1/audit/public/${seq}`);
      expect(r.entry.seq).toBe(seq);
      const cp = verifyCheckpoint(r.checkpoint, noteKeys, nodeCrypto, { origin: chain.keys.origin });
      expect(cp.size).toBe(201);
      expect(r.proof).toMatchObject({ leafIndex: seq, treeSize: 201 });
      expect(verifyInclusion(fromHex0x(r.hash), seq, cp.size, r.proof.hashes.map((h) => fromHex0x(h)), cp.rootHash, nodeCrypto)).toBe(true);
    }
    // Against an earlier checkpoint, immutably cacheable.
    const early = await get(`/v1/audit/public/5?size=${sizes[0]}`);
    expect(early.headers.get('cache-control')).toContain('immutable');
    const body = (await early.json()) as { hash: string; proof: { hashes: string[]; treeSize: number }; checkpoint: string };
    const cp = verifyCheckpoint(body.checkpoint, noteKeys, nodeCrypto);
    expect(cp.size).toBe(37);
    expect(verifyInclusion(fromHex0x(body.hash), 5, 37, body.proof.hashes.map((h) => fromHex0x(h)), cp.rootHash, nodeCrypto)).toBe(true);
    // Appended but not yet checkpointed: the envelope, no proof yet.
    const fresh = await get('/v1/audit/public/203');
    expect(fresh.status).toBe(200);
    expect(((await fresh.json()) as { proof: unknown }).proof).toBeNull();
    expect(fresh.headers.get('retry-after')).toBe('1');
  });

  it('GET /v1/audit/checkpoint serves signed-note text, latest and by size', async () => {
    const latest = await get('/v1/audit/checkpoint');
    expect(latest.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await latest.text();
    expect(text).toMatch(/^test\.ainfera\/chain\n201\n[A-Za-z0-9+/]{43}=\ntime .*\n\n\u2014 test\.ainfera\/chain [A-Za-z0-9+/=]+\n$/u);
    const first = await get(`/v1/audit/checkpoint?size=${sizes[0]}`);
    expect(first.headers.get('cache-control')).toContain('immutable');
    expect((await first.text()).split('\n')[1]).toBe('37');
    const { checkpoints } = await json<{ checkpoints: { index: number; size: number }[] }>('/v1/audit/checkpoints');
    expect(checkpoints.map((c) => [c.index, c.size])).toEqual([
      [0, 37],
      [1, 137],
      [2, 201],
    ]);
  });

  it('GET /v1/audit/consistency serves proofs that verify between the served checkpoints', async () => {
    const noteKeys = chain.keys.publicKeys().map((k) => parseNoteVerifierKey(k.noteKey));
    const cps = await Promise.all(sizes.map(async (s) => verifyCheckpoint(await (await get(`/v1/audit/checkpoint?size=${s}`)).text(), noteKeys, nodeCrypto)));
    for (const [i, j] of [
      [0, 1],
      [1, 2],
      [0, 2],
      [2, 2],
    ] as const) {
      const r = await json<{ from: number; to: number; hashes: string[] }>(`/v1/audit/consistency?from=${sizes[i]}&to=${sizes[j]}`);
      expect(r).toMatchObject({ from: sizes[i], to: sizes[j] });
      expect(verifyConsistency(cps[i]!.size, cps[j]!.size, cps[i]!.rootHash, cps[j]!.rootHash, r.hashes.map((h) => fromHex0x(h)), nodeCrypto)).toBe(true);
    }
  });

  it('answers bad input with 400 JSON naming the problem, unknown seqs with 404, and changes nothing', async () => {
    const before = { head: await chain.store.chain.head(), cp: await chain.store.chain.latestCheckpoint() };
    const cases: [string, number, string][] = [
      ['/v1/audit/public/-1', 400, 'invalid_parameter'],
      ['/v1/audit/public/abc', 400, 'invalid_parameter'],
      ['/v1/audit/public/1.5', 400, 'invalid_parameter'],
      ['/v1/audit/public/1e3', 400, 'invalid_parameter'],
      ['/v1/audit/public/99999999999999999999', 400, 'invalid_parameter'],
      ['/v1/audit/public/9007199254740993', 400, 'invalid_parameter'],
      ['/v1/audit/public/%zz', 400, 'invalid_parameter'],
      ['/v1/audit/public/5?size=38', 400, 'unknown_checkpoint'],
      ['/v1/audit/public/150?size=37', 400, 'invalid_parameter'],
      ['/v1/audit/public/5?size=-1', 400, 'invalid_parameter'],
      ['/v1/audit/public/5?bogus=1', 400, 'unknown_parameter'],
      ['/v1/audit/public?from=-5', 400, 'invalid_parameter'],
      ['/v1/audit/public?from=x', 400, 'invalid_parameter'],
      ['/v1/audit/public?from=1&from=2', 400, 'invalid_parameter'],
      ['/v1/audit/public?limit=1001', 400, 'limit_too_large'],
      ['/v1/audit/public?limit=0', 400, 'invalid_parameter'],
      ['/v1/audit/public?limit=99999999999999999999', 400, 'invalid_parameter'],
      ['/v1/audit/checkpoint?size=12', 400, 'unknown_checkpoint'],
      ['/v1/audit/checkpoint?size=-3', 400, 'invalid_parameter'],
      ['/v1/audit/checkpoint?size=', 400, 'invalid_parameter'],
      ['/v1/audit/checkpoints?limit=5000', 400, 'limit_too_large'],
      ['/v1/audit/consistency?from=137&to=37', 400, 'invalid_range'],
      ['/v1/audit/consistency?from=37', 400, 'missing_parameter'],
      ['/v1/audit/consistency?from=0&to=37', 400, 'invalid_parameter'],
      ['/v1/audit/consistency?from=37&to=100', 400, 'unknown_checkpoint'],
      ['/v1/audit/consistency?from=37&to=99999999999', 400, 'unknown_checkpoint'],
      ['/v1/audit/consistency?from=a&to=b', 400, 'invalid_parameter'],
      ['/v1/audit/keys?x=1', 400, 'unknown_parameter'],
      ['/v1/audit/public/206', 404, 'not_found'],
      ['/v1/audit/public/9007199254740991', 404, 'not_found'],
    ];
    for (const [path, status, code] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(status);
      expect(r.headers.get('content-type'), path).toMatch(/^application\/json/);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe(code);
      expect(body.error.message.length, path).toBeGreaterThan(0);
    }
    const post = await get('/v1/audit/public', { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toContain('GET');
    expect(await chain.store.chain.head()).toEqual(before.head);
    expect(await chain.store.chain.latestCheckpoint()).toEqual(before.cp);
  });

  it('covers entries appended later by another process (the proof service follows the store feed)', async () => {
    const other = await openChain(tmp.dir, { keys: chain.keys });
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => other.appender.append(event(20_000 + i))));
      const cp = (await other.appender.checkpoint())!;
      expect(cp.size).toBe(236);
      const noteKeys = chain.keys.publicKeys().map((k) => parseNoteVerifierKey(k.noteKey));
      const r = await json<Envelope & { proof: { hashes: string[] }; checkpoint: string }>('/v1/audit/public/230');
      const served = verifyCheckpoint(r.checkpoint, noteKeys, nodeCrypto);
      expect(served.size).toBe(236);
      expect(verifyInclusion(fromHex0x(r.hash), 230, 236, r.proof.hashes.map((h) => fromHex0x(h)), served.rootHash, nodeCrypto)).toBe(true);
      const c = await json<{ hashes: string[] }>(`/v1/audit/consistency?from=${sizes[2]}&to=236`);
      const old = verifyCheckpoint(await (await get(`/v1/audit/checkpoint?size=${sizes[2]}`)).text(), noteKeys, nodeCrypto);
      expect(verifyConsistency(old.size, 236, old.rootHash, served.rootHash, c.hashes.map((h) => fromHex0x(h)), nodeCrypto)).toBe(true);
      // The feed delivers them too: the service's tree catches up without being asked.
      const deadline = Date.now() + 5000;
      while (proofs.size < 236 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      expect(proofs.size).toBe(236);
    } finally {
      await other.close();
    }
  });

  it('leaves other paths to the rest of the server', async () => {
    for (const path of ['/graphql', '/v1/audit', '/v1/audit/nope', '/v1/auditx/keys']) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(await r.text(), path).toBe('not ours');
    }
  });
});
