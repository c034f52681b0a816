// DataLoader sets: one per request (per event for subscriptions), so every nested list resolves with
// batched store reads (no N+1) and nothing is cached across requests (balances change).
import DataLoader from 'dataloader';
import type { AgentRecord, DecisionRecord, Store, StoredEntry } from '../store/port.js';

export interface Loaders {
  agent: DataLoader<string, AgentRecord | null>;
  decision: DataLoader<string, DecisionRecord | null>;
  /** Chain entries by seq; a batch is read as contiguous ranges (one store read per run of seqs). */
  entry: DataLoader<number, StoredEntry | null>;
}

/** Splits sorted unique seqs into runs of consecutive seqs, each at most `maxRun` long. */
export function seqRuns(seqs: readonly number[], maxRun = 1000): { from: number; count: number }[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const runs: { from: number; count: number }[] = [];
  for (const s of sorted) {
    const last = runs[runs.length - 1];
    if (last && s === last.from + last.count && last.count < maxRun) last.count++;
    else runs.push({ from: s, count: 1 });
  }
  return runs;
}

export function createLoaders(store: Store): Loaders {
  return {
    agent: new DataLoader(async (ids) => store.accounts.agentsByIds(ids), { maxBatchSize: 500 }),
    decision: new DataLoader(async (ids) => store.decisions.byIds(ids), { maxBatchSize: 500 }),
    entry: new DataLoader(
      async (seqs) => {
        const bySeq = new Map<number, StoredEntry>();
        const pages = await Promise.all(seqRuns(seqs).map((r) => store.chain.entries(r.from, r.count)));
        for (const page of pages) for (const e of page) bySeq.set(e.seq, e);
        return seqs.map((s) => bySeq.get(s) ?? null);
      },
      { maxBatchSize: 5000 },
    ),
  };
}
