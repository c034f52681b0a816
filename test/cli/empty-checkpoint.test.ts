// A chain whose first checkpoint is the signed empty tree (size 0): `ainfera verify` accepts it when the
// export places it before the first entry (its size), and the later checkpoints still verify.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCheckpointBody, signNote } from '../../src/chain/checkpoint.js';
import { emptyRoot } from '../../src/chain/hash.js';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { toHex0x } from '../../src/chain/encoding.js';
import { exportLines, storeSource } from '../../src/chain/export.js';
import { verifyLines } from '../../src/cli/verify.js';
import type { ChainSigner } from '../../src/chain/keys.js';
import { event, openChain, tempDir } from '../chain/appender.helpers.js';

let tmp: ReturnType<typeof tempDir>;
let lines: string[];
let signer: ChainSigner;
let origin: string;
let time: string;

beforeAll(async () => {
  tmp = tempDir('ainfera-cli-empty-cp-');
  const c = await openChain(tmp.dir);
  // The signed starting point of a fresh chain, stored before any entry.
  time = new Date().toISOString(); // within the new key's validity
  signer = c.keys.signer;
  origin = c.keys.origin;
  const root = emptyRoot(nodeCrypto);
  const note = signNote(formatCheckpointBody({ origin: c.keys.origin, size: 0, rootHash: root, time }), c.keys.origin, c.keys.signer, nodeCrypto);
  await c.store.chain.addCheckpoint({ size: 0, rootHash: toHex0x(root), time, note });
  await Promise.all(Array.from({ length: 25 }, (_, i) => c.appender.append(event(i))));
  await c.appender.checkpoint();
  const source = storeSource(c.store.chain, c.keys.origin, c.keys.publicKeys(), 'test');
  lines = [];
  for await (const line of exportLines(source)) lines.push(line);
  await c.close();
});

afterAll(() => tmp.cleanup());

const type = (line: string): string => (JSON.parse(line) as { type: string }).type;

describe('verify with a size-0 checkpoint', () => {
  it('accepts it before the first entry, at block height 0', async () => {
    const cp0 = lines.findIndex((l) => type(l) === 'checkpoint' && (JSON.parse(l) as { size: number }).size === 0);
    expect(cp0).toBeGreaterThan(0);
    expect(JSON.parse(lines[cp0]!)).toMatchObject({ index: 0, size: 0 });
    // Where a size-0 checkpoint belongs: after the keys record, before entry 0.
    const firstEntry = lines.findIndex((l) => type(l) === 'entry');
    const placed = lines.filter((_, i) => i !== cp0);
    placed.splice(firstEntry, 0, lines[cp0]!);
    expect(await verifyLines(placed)).toMatchObject({ ok: true, entries: 25, checkpoints: 2, latestCheckpointSize: 25 });
  });

  it('fails a validly signed size-0 checkpoint over another root', async () => {
    const firstEntry = lines.findIndex((l) => type(l) === 'entry');
    const cp0 = lines.findIndex((l) => type(l) === 'checkpoint' && (JSON.parse(l) as { size: number }).size === 0);
    const rec = JSON.parse(lines[cp0]!) as { note: string; rootHash: string };
    const wrong = new Uint8Array(32).fill(7);
    const note = signNote(formatCheckpointBody({ origin, size: 0, rootHash: wrong, time }), origin, signer, nodeCrypto);
    const placed = lines.filter((_, i) => i !== cp0);
    placed.splice(firstEntry, 0, JSON.stringify({ ...rec, rootHash: toHex0x(wrong), note }));
    expect(await verifyLines(placed)).toMatchObject({ ok: false, reason: 'root_mismatch', checkpointSize: 0 });
  });
});
