// A data directory exactly as the release before the holds ledger (embedded schema v2) left it, built
// with that release's own schema SQL (fixtures/schema-v2.sql): for the migration tests, here and in the
// gateway's crash-recovery tests.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface LegacyAgent {
  id: string;
  handle: string;
  /** What the balance column held: after that release's holds were taken from it. */
  balance: number;
}

export interface LegacyDecision {
  id: string;
  agentId: string;
  createdAt: string;
  outcome: 'pending' | 'completed' | 'failed' | 'rejected';
  /** That release recorded a call's hold here while the decision was pending. */
  holdMicros: number;
  costMicros?: number;
}

export function writeLegacyDataDir(dataDir: string, agents: LegacyAgent[], decisions: LegacyDecision[]): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, 'ainfera.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.exec(fs.readFileSync(new URL('./fixtures/schema-v2.sql', import.meta.url), 'utf8'));
    const agent = db.prepare("INSERT INTO agents (id, handle, key_hash, balance, policy, created_at) VALUES (?, ?, ?, ?, 'null', '2026-11-24T13:00:00.000Z')");
    for (const a of agents) agent.run(a.id, a.handle, `kh-${a.id}`, a.balance);
    const decision = db.prepare(
      "INSERT INTO decisions (id, agent_id, created_at, task_type, model, provider, outcome, hold_micros, cost_micros, latency_ms, idempotency_key, chain_seqs, detail, feedback) VALUES (?, ?, ?, 'chat', NULL, NULL, ?, ?, ?, NULL, NULL, '[]', ?, NULL)",
    );
    const detail = JSON.stringify({ v: 1, requestHash: `0x${'ab'.repeat(32)}`, decision: null, message: null, result: null });
    for (const d of decisions) decision.run(d.id, d.agentId, d.createdAt, d.outcome, d.holdMicros, d.costMicros ?? 0, detail);
  } finally {
    db.close();
  }
}
