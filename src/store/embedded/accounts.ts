// Agents, balances and the holds ledger in SQLite. Every balance change is one UPDATE whose WHERE clause
// carries the guard (covers the hold / stays a safe integer), so concurrent holds can never take a balance
// below 0. A hold is a `holds` row keyed by its decision id, written in the same transaction as the
// balance update that takes it, and deleted in the one that gives it back: the DELETE ... RETURNING is the
// arbiter, so of any number of settlers (this process, a recovery sweep in another) exactly one refunds.
import type Database from 'better-sqlite3';
import type { AccountsStore, AgentRecord, HoldResult, Micros, OpenHold, OpenHoldsCursor, SettleHoldResult } from '../port.js';
import { StoreConflictError, StoreInputError, StoreNotFoundError } from '../port.js';
import { assertAgentRecord, assertHoldKey, assertIsoTime, assertMicros, assertOpenHoldsArgs, toJson } from '../validate.js';
import { isUniqueViolation } from './schema.js';

interface AgentRow {
  id: string;
  handle: string;
  key_hash: string;
  balance: number;
  policy: string;
  created_at: string;
}

interface HoldRow {
  decision_id: string;
  agent_id: string;
  micros: number;
  created_at: string;
  migrated: number;
}

const COLS = 'id, handle, key_hash, balance, policy, created_at';
const HOLD_COLS = 'decision_id, agent_id, micros, created_at, migrated';

function toHold(r: HoldRow): OpenHold {
  return { agentId: r.agent_id, decisionId: r.decision_id, micros: r.micros, createdAt: r.created_at, migrated: r.migrated === 1 };
}

function toAgent(r: AgentRow): AgentRecord {
  return { id: r.id, handle: r.handle, keyHash: r.key_hash, balanceMicros: r.balance, policy: JSON.parse(r.policy) as unknown, createdAt: r.created_at };
}

export class SqliteAccountsStore implements AccountsStore {
  private readonly s;
  private readonly holdTx;
  private readonly settleTx;

  constructor(db: Database.Database) {
    this.s = {
      insert: db.prepare('INSERT INTO agents (id, handle, key_hash, balance, policy, created_at) VALUES (@id, @handle, @keyHash, @balance, @policy, @createdAt)'),
      // json_each turns one JSON array parameter into rows: one prepared statement for any number of ids.
      byIds: db.prepare<[string], AgentRow>(`SELECT ${COLS} FROM agents WHERE id IN (SELECT value FROM json_each(?))`),
      byKeyHash: db.prepare<[string], AgentRow>(`SELECT ${COLS} FROM agents WHERE key_hash = ?`),
      byHandle: db.prepare<[string], AgentRow>(`SELECT ${COLS} FROM agents WHERE handle = ?`),
      all: db.prepare<[], AgentRow>(`SELECT ${COLS} FROM agents ORDER BY created_at, id`),
      setPolicy: db.prepare<[string, string], AgentRow>(`UPDATE agents SET policy = ? WHERE id = ? RETURNING ${COLS}`),
      balance: db.prepare<[string], { balance: number }>('SELECT balance FROM agents WHERE id = ?'),
      // The guard counts open holds: each may come back in full, and that must never pass the safe range.
      credit: db.prepare<{ id: string; m: number; max: number }, { balance: number }>(
        'UPDATE agents SET balance = balance + @m WHERE id = @id AND balance + (SELECT coalesce(sum(micros), 0) FROM holds WHERE agent_id = @id) <= @max - @m RETURNING balance',
      ),
      // Takes the money iff it is there; the hold's insert follows in the same IMMEDIATE transaction, and
      // its primary key refuses a second open hold (the transaction then rolls this back).
      take: db.prepare<{ id: string; m: number }, { balance: number }>('UPDATE agents SET balance = balance - @m WHERE id = @id AND balance >= @m RETURNING balance'),
      insertHold: db.prepare<{ d: string; id: string; m: number; at: string }>('INSERT INTO holds (decision_id, agent_id, micros, created_at) VALUES (@d, @id, @m, @at)'),
      holdOf: db.prepare<[string, string], { micros: number }>('SELECT micros FROM holds WHERE decision_id = ? AND agent_id = ?'),
      dropHold: db.prepare<[string, string], { micros: number }>('DELETE FROM holds WHERE decision_id = ? AND agent_id = ? RETURNING micros'),
      give: db.prepare<{ id: string; m: number }, { balance: number }>('UPDATE agents SET balance = balance + @m WHERE id = @id RETURNING balance'),
      openHolds: db.prepare<{ before: string; afterAt: string; afterId: string; limit: number }, HoldRow>(
        `SELECT ${HOLD_COLS} FROM holds WHERE created_at < @before AND (created_at, decision_id) > (@afterAt, @afterId) ORDER BY created_at, decision_id LIMIT @limit`,
      ),
    };
    this.holdTx = db.transaction((id: string, d: string, m: number, at: string): HoldResult => {
      const r = this.s.take.get({ id, m });
      if (r) {
        try {
          this.s.insertHold.run({ d, id, m, at });
        } catch (err) {
          if (isUniqueViolation(err)) throw new StoreConflictError(`decision ${d} already has an open hold`, 'decisionId');
          throw err;
        }
        return { ok: true, balanceMicros: r.balance };
      }
      const cur = this.s.balance.get(id);
      if (!cur) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
      if (this.s.holdOf.get(d, id)) throw new StoreConflictError(`decision ${d} already has an open hold`, 'decisionId');
      return { ok: false, balanceMicros: cur.balance };
    });
    this.settleTx = db.transaction((id: string, d: string, charge: number): SettleHoldResult => {
      const held = this.s.dropHold.get(d, id);
      if (!held) {
        const cur = this.s.balance.get(id);
        if (!cur) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
        return { settled: false, refundMicros: 0, balanceMicros: cur.balance };
      }
      // Thrown inside the transaction: the DELETE above is rolled back, nothing changes.
      if (charge > held.micros) throw new StoreInputError(`chargeMicros ${charge} is more than the hold of ${held.micros}`, 'chargeMicros');
      const refundMicros = held.micros - charge;
      const r = this.s.give.get({ id, m: refundMicros });
      if (!r) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
      return { settled: true, refundMicros, balanceMicros: r.balance };
    });
  }

  async createAgent(agent: AgentRecord): Promise<AgentRecord> {
    assertAgentRecord(agent);
    const policy = toJson(agent.policy, 'policy');
    try {
      this.s.insert.run({ id: agent.id, handle: agent.handle, keyHash: agent.keyHash, balance: agent.balanceMicros, policy, createdAt: agent.createdAt });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const msg = String((err as Error).message);
      const field = msg.includes('agents.handle') ? 'handle' : msg.includes('agents.key_hash') ? 'keyHash' : 'id';
      throw new StoreConflictError(`an agent with this ${field} already exists`, field);
    }
    return { ...agent, policy: JSON.parse(policy) as unknown };
  }

  async agentsByIds(ids: readonly string[]): Promise<(AgentRecord | null)[]> {
    if (ids.length === 0) return [];
    const found = new Map(this.s.byIds.all(JSON.stringify(ids)).map((r) => [r.id, toAgent(r)]));
    return ids.map((id) => found.get(id) ?? null);
  }

  async agentByKeyHash(keyHash: string): Promise<AgentRecord | null> {
    const r = this.s.byKeyHash.get(keyHash);
    return r ? toAgent(r) : null;
  }

  async agentByHandle(handle: string): Promise<AgentRecord | null> {
    const r = this.s.byHandle.get(handle);
    return r ? toAgent(r) : null;
  }

  async listAgents(): Promise<AgentRecord[]> {
    return this.s.all.all().map(toAgent);
  }

  async setPolicy(id: string, policy: unknown): Promise<AgentRecord | null> {
    const r = this.s.setPolicy.get(toJson(policy, 'policy'), id);
    return r ? toAgent(r) : null;
  }

  async credit(id: string, micros: Micros): Promise<Micros> {
    assertMicros(micros, 'micros');
    const r = this.s.credit.get({ id, m: micros, max: Number.MAX_SAFE_INTEGER });
    if (r) return r.balance;
    if (!this.s.balance.get(id)) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    throw new StoreInputError(`micros ${micros} would take the balance (with its open holds) past the largest safe integer`, 'micros');
  }

  async hold(agentId: string, decisionId: string, micros: Micros, createdAt?: string): Promise<HoldResult> {
    assertHoldKey(decisionId, 'decisionId');
    assertMicros(micros, 'micros');
    const at = createdAt ?? new Date().toISOString();
    assertIsoTime(at, 'createdAt');
    // IMMEDIATE: take the write lock first, so another process cannot commit between the statements.
    return this.holdTx.immediate(agentId, decisionId, micros, at);
  }

  async settleHold(agentId: string, decisionId: string, chargeMicros: Micros): Promise<SettleHoldResult> {
    assertHoldKey(decisionId, 'decisionId');
    assertMicros(chargeMicros, 'chargeMicros');
    return this.settleTx.immediate(agentId, decisionId, chargeMicros);
  }

  async openHolds(before: string, limit: number, after?: OpenHoldsCursor): Promise<OpenHold[]> {
    assertOpenHoldsArgs(before, limit, after);
    // '' sorts before every time and id: no cursor means from the start.
    return this.s.openHolds.all({ before, afterAt: after?.createdAt ?? '', afterId: after?.decisionId ?? '', limit }).map(toHold);
  }
}
