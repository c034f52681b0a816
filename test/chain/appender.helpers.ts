// Shared by the appender, crash and CLI tests: a temp data dir with a real SQLite store, real keys and
// a real appender, plus a full verification through the same code path the CLI uses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventInput } from '../../src/chain/types.js';
import { ChainAppender, type ChainAppenderOptions } from '../../src/chain/appender.js';
import { loadSigningKeys, type ChainKeys } from '../../src/chain/keys.js';
import { exportLines, storeSource } from '../../src/chain/export.js';
import { verifyLines, type Verdict } from '../../src/cli/verify.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/port.js';

export function tempDir(prefix = 'ainfera-chain-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const ORIGIN = 'test.ainfera/chain';

export function keysFor(dataDir: string): ChainKeys {
  return loadSigningKeys({ dataDir, create: true, env: {}, origin: ORIGIN });
}

export async function openChain(dataDir: string, opts: Partial<ChainAppenderOptions> = {}): Promise<{ store: Store; keys: ChainKeys; appender: ChainAppender; close(): Promise<void> }> {
  const store = await openStore({ kind: 'embedded', dataDir });
  const keys = opts.keys ?? keysFor(dataDir);
  const appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 0, ...opts });
  return {
    store,
    keys,
    appender,
    async close() {
      await appender.close();
      await store.close();
    },
  };
}

/** A realistic entry (~300-400 bytes canonical). */
export function event(i: number): EventInput {
  return {
    kind: ['request', 'routed', 'debited', 'provider_ok', 'refunded', 'completed'][i % 6]!,
    agent: `agent-${i % 17}`,
    decision: `dec_${(Math.floor(i / 6) * 7919).toString(36).padStart(12, '0')}`,
    model: 'qwen3-coder-480b',
    provider: 'together',
    fields: { costMicros: 1234 + i, tokensIn: 812, tokensOut: 233, latencyMs: 417, requestSha256: `0x${(i * 2654435761 >>> 0).toString(16).padStart(64, 'a')}`, taskType: 'code' },
  };
}

/** Verify everything in a store exactly as `ainfera verify` does on an export of it. */
export async function verifyStore(store: Store, keys: ChainKeys): Promise<Verdict> {
  return verifyLines(exportLines(storeSource(store.chain, keys.origin, keys.publicKeys(), 'test')));
}
