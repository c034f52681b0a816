// Agents and balances in SQLite. Every balance change is one UPDATE whose WHERE clause carries the
// guard (covers the hold / stays a safe integer), so concurrent holds can never take a balance below 0.
import type Database from 'better-sqlite3';
import type { AccountsStore, AgentRecord, HoldResult, Micros } from '../port.js';
import { StoreConflictError, StoreInputError, StoreNotFoundError } from '../port.js';
import { assertAgentRecord, assertMicros, toJson } from '../validate.js';
import { isUniqueViolation } from './schema.js';

interface AgentRow {
  id: string;
  handle: string;
  key_hash: string;
  balance: number;
  policy: string;
  created_at: string;
}

const COLS = 'id, handle, key_hash, balance, policy, created_at';

function toAgent(r: AgentRow): AgentRecord {
  return { id: r.id, handle: r.handle, keyHash: r.key_hash, balanceMicros: r.balance, policy: JSON.parse(r.policy) as unknown, createdAt: r.created_at };
}

export class SqliteAccountsStore implements AccountsStore {
  private readonly s;

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
      hold: db.prepare<{ id: string; m: number }, { balance: number }>('UPDATE agents SET balance = balance - @m WHERE id = @id AND balance >= @m RETURNING balance'),
      add: db.prepare<{ id: string; m: number; max: number }, { balance: number }>('UPDATE agents SET balance = balance + @m WHERE id = @id AND balance <= @max - @m RETURNING balance'),
    };
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
    return this.add(id, micros);
  }

  async hold(id: string, micros: Micros): Promise<HoldResult> {
    assertMicros(micros, 'micros');
    const r = this.s.hold.get({ id, m: micros });
    if (r) return { ok: true, balanceMicros: r.balance };
    const cur = this.s.balance.get(id);
    if (!cur) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    return { ok: false, balanceMicros: cur.balance };
  }

  async release(id: string, micros: Micros): Promise<Micros> {
    return this.add(id, micros);
  }

  private add(id: string, micros: Micros): Micros {
    assertMicros(micros, 'micros');
    const r = this.s.add.get({ id, m: micros, max: Number.MAX_SAFE_INTEGER });
    if (r) return r.balance;
    if (!this.s.balance.get(id)) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    throw new StoreInputError(`micros ${micros} would take the balance past the largest safe integer`, 'micros');
  }
}
