// `ainfera export` + `ainfera verify` end to end, through the CLI dispatcher: a real chain in SQLite,
// real signatures, a real server for the URL mode. Tamper cases edit the export file (or the database
// behind a live server) and expect exit 1 with the first bad seq and the reason.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { formatCheckpointBody, signNote } from '../../src/chain/checkpoint.js';
import { createNodeSigner, nodeCrypto } from '../../src/chain/node-crypto.js';
import { fromHex0x } from '../../src/chain/encoding.js';
import { MerkleTree } from '../../src/chain/merkle.js';
import { ProofService } from '../../src/chain/proofs.js';
import { createAuditHandler } from '../../src/server/audit-routes.js';
import { event, keysFor, openChain, tempDir } from '../chain/appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
let dataDir: string;
let exportFile: string;
let lines: string[];

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  tmp = tempDir('ainfera-cli-verify-');
  dataDir = join(tmp.dir, 'data');
  const c = await openChain(dataDir);
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 100 }, (_, i) => c.appender.append(event(round * 100 + i))));
    await c.appender.checkpoint();
  }
  await c.close();
  exportFile = join(tmp.dir, 'chain.jsonl');
  const r = await cli(['export', '--data-dir', dataDir, '--out', exportFile]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain('exported 300 entries and 3 checkpoints');
  lines = readFileSync(exportFile, 'utf8').trimEnd().split('\n');
});
afterAll(() => tmp.cleanup());

type Rec = { type: string; hash?: string; entry?: { seq: number }; size?: number; index?: number; note?: string; rootHash?: string; sig?: string; keyId?: string };
const parse = (l: string) => JSON.parse(l) as Rec;
const lineOfSeq = (ls: string[], seq: number) => ls.findIndex((l) => parse(l).type === 'entry' && parse(l).entry!.seq === seq);
const lineOfCheckpoint = (ls: string[], size: number) => ls.findIndex((l) => parse(l).type === 'checkpoint' && parse(l).size === size);

async function verifyTampered(name: string, edit: (ls: string[]) => string[]): Promise<{ code: number; stdout: string }> {
  const file = join(tmp.dir, `${name}.jsonl`);
  writeFileSync(file, `${edit([...lines]).join('\n')}\n`);
  return cli(['verify', file]);
}

describe('ainfera export / verify', () => {
  it('exports a JSON-lines file with header, keys, entries, interleaved checkpoints and an end record', () => {
    expect(parse(lines[0]!)).toMatchObject({ type: 'ainfera-chain-export', version: 1, origin: 'test.ainfera/chain' });
    expect(parse(lines[1]!).type).toBe('keys');
    expect(parse(lines[lineOfSeq(lines, 99) + 1]!)).toMatchObject({ type: 'checkpoint', index: 0, size: 100 });
    expect(parse(lines.at(-1)!)).toEqual({ type: 'end', entries: 300, checkpoints: 3 });
    expect(lines.length).toBe(2 + 300 + 3 + 1);
  });

  it('verifies an untouched export: exit 0 and a one-line verdict', async () => {
    const r = await cli(['verify', exportFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OK: 300 entries and 3 checkpoints verified \(latest checkpoint size 300; root 0x[0-9a-f]{64}\) in \d+\.\ds\n$/);
  });

  it('prints throttled progress lines on stderr (interval shortened here), the verdict on stdout', async () => {
    const r = await cli(['verify', exportFile], { AINFERA_PROGRESS_MS: '0' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^verifying: 300 entries \([\d,]+\/s\)\n/m);
    expect(r.stdout).not.toContain('verifying');
    expect((await cli(['verify', exportFile, '--quiet'], { AINFERA_PROGRESS_MS: '0' })).stderr).toBe('');
  });

  it('verifies a data directory directly', async () => {
    const r = await cli(['verify', '--data-dir', dataDir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('OK: 300 entries and 3 checkpoints');
  });

  const cases: [string, (ls: string[]) => string[], RegExp][] = [
    [
      'flipped byte',
      (ls) => {
        const i = lineOfSeq(ls, 150);
        const at = ls[i]!.indexOf('"costMicros":') + '"costMicros":'.length;
        const d = ls[i]![at]!;
        ls[i] = ls[i]!.slice(0, at) + String((Number(d) + 1) % 10) + ls[i]!.slice(at + 1);
        return ls;
      },
      /FAILED at seq 150: hash_mismatch/,
    ],
    [
      'reordered',
      (ls) => {
        const i = lineOfSeq(ls, 150);
        [ls[i], ls[i + 1]] = [ls[i + 1]!, ls[i]!];
        return ls;
      },
      /FAILED at seq 150: seq_out_of_order/,
    ],
    ['deleted', (ls) => ls.filter((_, i) => i !== lineOfSeq(ls, 150)), /FAILED at seq 150: seq_gap/],
    ['truncated file', (ls) => ls.slice(0, lineOfSeq(ls, 249) + 1), /FAILED at seq 250: truncated/],
    [
      'truncated entries under a checkpoint',
      (ls) => ls.filter((l, i) => !(parse(l).type === 'entry' && i > lineOfSeq(ls, 249))),
      /FAILED at seq 250 \(checkpoint of size 300\): truncated/,
    ],
    [
      'bad signature',
      (ls) => {
        const a = lineOfSeq(ls, 42);
        const other = parse(ls[lineOfSeq(ls, 43)]!).sig!;
        const rec = parse(ls[a]!);
        ls[a] = JSON.stringify({ ...rec, sig: other });
        return ls;
      },
      /FAILED at seq 42: bad_signature/,
    ],
    [
      'unknown key',
      (ls) => {
        const a = lineOfSeq(ls, 7);
        ls[a] = JSON.stringify({ ...parse(ls[a]!), keyId: '00000000deadbeef' });
        return ls;
      },
      /FAILED at seq 7: unknown_key/,
    ],
    [
      'forked checkpoint',
      (ls) => {
        // Validly signed by the log's own key, same size, another root: a fork.
        const keys = keysFor(dataDir);
        const i = lineOfCheckpoint(ls, 200);
        const rec = parse(ls[i]!);
        const root = new Uint8Array(32).fill(7);
        const note = signNote(formatCheckpointBody({ origin: keys.origin, size: 200, rootHash: root, time: new Date().toISOString() }), keys.origin, keys.signer, nodeCrypto);
        ls[i] = JSON.stringify({ ...rec, note, rootHash: `0x${Buffer.from(root).toString('hex')}` });
        return ls;
      },
      /FAILED at seq 199 \(checkpoint of size 200\): root_mismatch/,
    ],
    [
      'rolled-back checkpoint',
      (ls) => {
        const older = parse(ls[lineOfCheckpoint(ls, 200)]!);
        const end = ls.pop()!;
        ls.push(JSON.stringify({ ...older, index: 3 }), JSON.stringify({ ...parse(end), checkpoints: 4 }));
        return ls;
      },
      /FAILED at checkpoint of size 200: checkpoint_rollback/,
    ],
    [
      'checkpoint signed by a stranger',
      (ls) => {
        const stranger = createNodeSigner(new Uint8Array(32).fill(9));
        const i = lineOfCheckpoint(ls, 100);
        const rec = parse(ls[i]!);
        const body = rec.note!.slice(0, rec.note!.indexOf('\n\n') + 1);
        ls[i] = JSON.stringify({ ...rec, note: signNote(body, 'test.ainfera/chain', stranger, nodeCrypto) });
        return ls;
      },
      /FAILED at checkpoint of size 100: checkpoint_signature/,
    ],
    [
      'checkpoint moved after later entries',
      (ls) => {
        const i = lineOfCheckpoint(ls, 100);
        const [cp] = ls.splice(i, 1);
        ls.splice(lineOfSeq(ls, 150) + 1, 0, cp!);
        return ls;
      },
      /FAILED at line \d+: malformed_checkpoint: checkpoint on line \d+ comes after entries beyond its size/,
    ],
    [
      'skipped block height',
      (ls) => {
        const i = lineOfCheckpoint(ls, 200);
        ls[i] = JSON.stringify({ ...parse(ls[i]!), index: 5 });
        return ls;
      },
      /FAILED at checkpoint of size 200: malformed_checkpoint: checkpoint index 5/,
    ],
  ];
  for (const [name, edit, expected] of cases) {
    it(`names the first bad seq: ${name}`, async () => {
      const r = await verifyTampered(name.replace(/\W+/g, '-'), edit);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(expected);
    });
  }

  it('--state remembers the latest checkpoint and catches a consistent but rolled-back or forked chain later', async () => {
    const state = join(tmp.dir, 'state.note');
    const first = await cli(['verify', exportFile, '--state', state]);
    expect(first.code, first.stdout).toBe(0);
    expect(readFileSync(state, 'utf8').split('\n')[1]).toBe('300');
    // A perfectly consistent older view: entries and checkpoints after 200 gone, totals fixed up.
    const older = lines.slice(0, lineOfCheckpoint(lines, 200) + 1);
    older.push(JSON.stringify({ type: 'end', entries: 200, checkpoints: 2 }));
    const olderFile = join(tmp.dir, 'older.jsonl');
    writeFileSync(olderFile, `${older.join('\n')}\n`);
    expect((await cli(['verify', olderFile])).code).toBe(0);
    const rolled = await cli(['verify', olderFile, '--state', state]);
    expect(rolled.code).toBe(1);
    expect(rolled.stdout).toMatch(/FAILED at checkpoint of size 300: checkpoint_rollback/);
    // A validly signed note of size 300 with another root remembered from "earlier": a fork.
    const keys = keysFor(dataDir);
    const forked = join(tmp.dir, 'forked.note');
    writeFileSync(forked, signNote(formatCheckpointBody({ origin: keys.origin, size: 300, rootHash: new Uint8Array(32).fill(3), time: new Date().toISOString() }), keys.origin, keys.signer, nodeCrypto));
    const fork = await cli(['verify', exportFile, '--state', forked]);
    expect(fork.code).toBe(1);
    expect(fork.stdout).toMatch(/FAILED at .*checkpoint of size 300.*: (inconsistent_checkpoint|root_mismatch)/);
    // A remembered size that falls between the log's checkpoints is matched against the entries too.
    const tree = new MerkleTree(nodeCrypto);
    for (let seq = 0; seq < 150; seq++) tree.append(fromHex0x(parse(lines[lineOfSeq(lines, seq)]!).hash!));
    const midNote = signNote(formatCheckpointBody({ origin: keys.origin, size: 150, rootHash: tree.root(), time: new Date().toISOString() }), keys.origin, keys.signer, nodeCrypto);
    const mid = join(tmp.dir, 'mid.note');
    writeFileSync(mid, midNote);
    const ok = await cli(['verify', '--data-dir', dataDir, '--state', mid]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(readFileSync(mid, 'utf8').split('\n')[1]).toBe('300');
    writeFileSync(mid, midNote.replace(/\n150\n/, '\n151\n'));
    expect((await cli(['verify', exportFile, '--state', mid])).stdout).toMatch(/checkpoint_signature/);
  });

  it('exits 2 on usage errors and unreadable sources', async () => {
    expect((await cli(['verify'])).code).toBe(2);
    expect((await cli(['verify', join(tmp.dir, 'missing.jsonl')])).code).toBe(2);
    const notExport = join(tmp.dir, 'not-export.jsonl');
    writeFileSync(notExport, '{"hello":1}\n');
    const r = await cli(['verify', notExport]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('not an Ainfera chain export');
    expect((await cli(['nope'])).code).toBe(2);
    expect((await cli(['export', '--data-dir', join(tmp.dir, 'empty')])).code).toBe(2);
  });

  describe('against a live server', () => {
    let server: Server;
    let proofs: ProofService;
    let base: string;
    let store: Awaited<ReturnType<typeof openChain>>;

    beforeAll(async () => {
      store = await openChain(dataDir);
      proofs = await ProofService.open(store.store.chain);
      const handler = createAuditHandler({ chain: store.store.chain, proofs, publicKeys: () => store.keys.publicKeys() });
      server = createServer((req, res) => {
        if (!handler(req, res)) res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((r) => server.close(() => r()));
      proofs.close();
      await store.close();
    });

    it('verifies every entry, checkpoint and served consistency proof over HTTP, and exports the same chain', async () => {
      const r = await cli(['verify', base]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('OK: 300 entries and 3 checkpoints verified (latest checkpoint size 300, 2 consistency proofs;');
      const file = join(tmp.dir, 'from-url.jsonl');
      expect((await cli(['export', '--url', base, '--out', file])).code).toBe(0);
      const fromUrl = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(fromUrl.slice(1)).toEqual(lines.slice(1));
      // With a remembered checkpoint: accepted when the server extends it, refused when it is ahead.
      const state = join(tmp.dir, 'url-state.note');
      expect((await cli(['verify', base, '--state', state])).code).toBe(0);
      expect((await cli(['verify', base, '--state', state])).code).toBe(0);
      const keys = keysFor(dataDir);
      const ahead = join(tmp.dir, 'ahead.note');
      writeFileSync(ahead, signNote(formatCheckpointBody({ origin: keys.origin, size: 400, rootHash: new Uint8Array(32).fill(1), time: new Date().toISOString() }), keys.origin, keys.signer, nodeCrypto));
      const r2 = await cli(['verify', base, '--state', ahead]);
      expect(r2.code).toBe(1);
      expect(r2.stdout).toMatch(/checkpoint_rollback/);
    });

    it('names the seq when the database behind the server was tampered with', async () => {
      const db = new Database(join(dataDir, 'ainfera.db'));
      try {
        db.exec('DROP TRIGGER chain_no_update');
        const row = db.prepare('SELECT canonical FROM chain WHERE seq = 77').get() as { canonical: string };
        db.prepare('UPDATE chain SET canonical = ? WHERE seq = 77').run(row.canonical.replace('"tokensIn":812', '"tokensIn":813'));
      } finally {
        db.close();
      }
      const r = await cli(['verify', base]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/FAILED at seq 77: hash_mismatch/);
    });
  });

  it('keys init/show/rotate never print the seed', async () => {
    const dir = join(tmp.dir, 'keys');
    const init = await cli(['keys', 'init', '--data-dir', dir, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const before = JSON.parse(init.stdout) as { keys: { keyId: string }[] };
    const rot = await cli(['keys', 'rotate', '--data-dir', dir, '--json']);
    const after = JSON.parse(rot.stdout) as { keys: { keyId: string; validUntil: string | null }[] };
    expect(after.keys).toHaveLength(2);
    expect(after.keys[1]!.keyId).toBe(before.keys[0]!.keyId);
    expect(after.keys[1]!.validUntil).not.toBeNull();
    const seed = (JSON.parse(readFileSync(join(dir, 'signing-key.json'), 'utf8')) as { current: { seed: string } }).current.seed;
    expect(init.stdout + rot.stdout + (await cli(['keys', 'show', '--data-dir', dir])).stdout).not.toContain(seed);
  });
});
