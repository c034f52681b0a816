// docs/chain-format.md's worked example must match what the code computes today, and must verify
// with the verifier using node:crypto (independent of the noble code that generated it).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../src/chain/node-crypto.js';
import { ChainVerifier } from '../../src/chain/verify.js';
import { DOC_BEGIN, DOC_END, buildChainExample, renderExampleMarkdown, updateDoc } from '../../scripts/chain-example.js';

const doc = readFileSync(new URL('../../docs/chain-format.md', import.meta.url), 'utf8');

describe('docs/chain-format.md worked example', () => {
  it('is up to date (regenerate with: npx tsx scripts/chain-example.ts --write)', () => {
    expect(doc).toContain(DOC_BEGIN);
    expect(doc).toContain(DOC_END);
    expect(updateDoc(doc, renderExampleMarkdown())).toBe(doc);
  });

  it('is deterministic', () => {
    expect(renderExampleMarkdown()).toBe(renderExampleMarkdown());
  });

  it('verifies end to end: entries, checkpoint, proofs', () => {
    const ex = buildChainExample();
    for (const v of [new ChainVerifier({ keys: ex.keys }), new ChainVerifier({ keys: ex.keys, crypto: nodeCrypto })]) {
      expect(v.addCheckpoint(ex.checkpoint)).toMatchObject({ ok: true, status: 'pending' });
      expect(v.push(ex.entries.map((e) => e.envelope))).toEqual({ ok: true, size: 3 });
      expect(v.finish()).toMatchObject({ ok: true, size: 3, root: ex.tree.root, checkpointsVerified: 1 });
      const served = { ...ex.entries[2]!.envelope, proof: { leafIndex: 2, treeSize: 3, hashes: ex.tree.inclusionProofSeq2 }, checkpoint: ex.checkpoint };
      expect(v.verifyServedEntry(served)).toMatchObject({ ok: true, seq: 2 });
    }
    // The doc states these literally; pin a few so an accidental format change is loud.
    expect(doc).toContain(ex.tree.root);
    expect(doc).toContain(ex.entries[0]!.hash);
    expect(doc).toContain(ex.checkpoint.trimEnd());
    expect(ex.tree.root).toBe('0xca5273d49bc8790ff765526a9af2b651b5c0cc25dfbbf8eeccd823e9d5749e1a');
  });
});
