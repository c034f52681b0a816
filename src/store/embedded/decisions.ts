// Decisions in SQLite: indexed columns for the list filters, JSON text for the private detail, and
// newest-first keyset pagination on (created_at, id) so pages stay stable while decisions are added.
import type Database from 'better-sqlite3';
import type { DecisionFilter, DecisionOutcome, DecisionPage, DecisionRecord, DecisionsStore } from '../port.js';
import { StoreConflictError, StoreInputError } from '../port.js';
import { assertDecisionFields, assertLimit, assertString, DECISION_OUTCOMES, toJson } from '../validate.js';
import { isUniqueViolation } from './schema.js';

interface DecisionRow {
  id: string;
  agent_id: string;
  created_at: string;
  task_type: string;
  model: string | null;
  provider: string | null;
  outcome: string;
  hold_micros: number;
  cost_micros: number;
  latency_ms: number | null;
  idempotency_key: string | null;
  chain_seqs: string;
  detail: string;
  feedback: string | null;
}

type Patch = Partial<Omit<DecisionRecord, 'id' | 'agentId' | 'createdAt'>>;

const COLS = 'id, agent_id, created_at, task_type, model, provider, outcome, hold_micros, cost_micros, latency_ms, idempotency_key, chain_seqs, detail, feedback';

function toRecord(r: DecisionRow): DecisionRecord {
  return {
    id: r.id,
    agentId: r.agent_id,
    createdAt: r.created_at,
    taskType: r.task_type,
    model: r.model,
    provider: r.provider,
    outcome: r.outcome as DecisionOutcome,
    holdMicros: r.hold_micros,
    costMicros: r.cost_micros,
    latencyMs: r.latency_ms,
    idempotencyKey: r.idempotency_key,
    chainSeqs: JSON.parse(r.chain_seqs) as number[],
    detail: JSON.parse(r.detail) as unknown,
    feedback: r.feedback === null ? null : (JSON.parse(r.feedback) as DecisionRecord['feedback']),
  };
}

function toParams(d: DecisionRecord): Record<string, unknown> {
  return {
    id: d.id,
    agentId: d.agentId,
    createdAt: d.createdAt,
    taskType: d.taskType,
    model: d.model ?? null,
    provider: d.provider ?? null,
    outcome: d.outcome,
    holdMicros: d.holdMicros,
    costMicros: d.costMicros,
    latencyMs: d.latencyMs ?? null,
    idempotencyKey: d.idempotencyKey ?? null,
    chainSeqs: JSON.stringify(d.chainSeqs),
    detail: toJson(d.detail, 'detail'),
    feedback: d.feedback == null ? null : JSON.stringify(d.feedback),
  };
}

/** Filter field -> column, for the equality filters. */
const EQ: [keyof DecisionFilter, string][] = [
  ['agentId', 'agent_id'],
  ['model', 'model'],
  ['provider', 'provider'],
  ['taskType', 'task_type'],
  ['outcome', 'outcome'],
];

export class SqliteDecisionsStore implements DecisionsStore {
  private readonly s;
  private readonly listStatements = new Map<string, Database.Statement<Record<string, unknown>, DecisionRow>>();
  private readonly updateTx: (id: string, patch: Patch, onlyPending: boolean) => DecisionRecord | null;

  constructor(private readonly db: Database.Database) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO decisions (${COLS}) VALUES (@id, @agentId, @createdAt, @taskType, @model, @provider, @outcome, @holdMicros, @costMicros, @latencyMs, @idempotencyKey, @chainSeqs, @detail, @feedback)`,
      ),
      replace: db.prepare(
        'UPDATE decisions SET task_type = @taskType, model = @model, provider = @provider, outcome = @outcome, hold_micros = @holdMicros, cost_micros = @costMicros, latency_ms = @latencyMs, idempotency_key = @idempotencyKey, chain_seqs = @chainSeqs, detail = @detail, feedback = @feedback WHERE id = @id',
      ),
      byId: db.prepare<[string], DecisionRow>(`SELECT ${COLS} FROM decisions WHERE id = ?`),
      byIds: db.prepare<[string], DecisionRow>(`SELECT ${COLS} FROM decisions WHERE id IN (SELECT value FROM json_each(?))`),
      byKey: db.prepare<[string, string], DecisionRow>(`SELECT ${COLS} FROM decisions WHERE agent_id = ? AND idempotency_key = ?`),
      cursor: db.prepare<[string], { created_at: string }>('SELECT created_at FROM decisions WHERE id = ?'),
    };
    // Read-merge-write in one write transaction: a patch never loses a concurrent patch's fields.
    // BEGIN IMMEDIATE takes the write lock before the read, so the pending check holds across processes.
    this.updateTx = db.transaction((id: string, patch: Patch, onlyPending: boolean): DecisionRecord | null => {
      const row = this.s.byId.get(id);
      if (!row) return null;
      if (onlyPending && row.outcome !== 'pending') return null;
      const merged: DecisionRecord = { ...toRecord(row), ...patch };
      this.s.replace.run(toParams(merged));
      return toRecord(this.s.byId.get(id)!);
    }).immediate;
  }

  async insert(decision: DecisionRecord): Promise<void> {
    assertDecisionFields(decision, true);
    try {
      this.s.insert.run(toParams(decision));
    } catch (err) {
      throw conflict(err);
    }
  }

  async update(id: string, patch: Patch): Promise<DecisionRecord | null> {
    assertString(id, 'id');
    assertDecisionFields(patch, false);
    try {
      return this.updateTx(id, patch, false);
    } catch (err) {
      throw conflict(err);
    }
  }

  async updateIfPending(id: string, patch: Patch): Promise<DecisionRecord | null> {
    assertString(id, 'id');
    assertDecisionFields(patch, false);
    try {
      return this.updateTx(id, patch, true);
    } catch (err) {
      throw conflict(err);
    }
  }

  async byIds(ids: readonly string[]): Promise<(DecisionRecord | null)[]> {
    if (ids.length === 0) return [];
    const found = new Map(this.s.byIds.all(JSON.stringify(ids)).map((r) => [r.id, toRecord(r)]));
    return ids.map((id) => found.get(id) ?? null);
  }

  async byIdempotencyKey(agentId: string, key: string): Promise<DecisionRecord | null> {
    const r = this.s.byKey.get(agentId, key);
    return r ? toRecord(r) : null;
  }

  async list(filter: DecisionFilter, first: number, after?: string): Promise<DecisionPage> {
    assertLimit(first, 'first');
    if (filter.outcome !== undefined && !DECISION_OUTCOMES.includes(filter.outcome)) {
      throw new StoreInputError(`outcome must be one of ${DECISION_OUTCOMES.join(', ')}`, 'outcome');
    }
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: first + 1 };
    for (const [key, col] of EQ) {
      if (filter[key] !== undefined) {
        where.push(`${col} = @${key}`);
        params[key] = filter[key];
      }
    }
    if (filter.since !== undefined) {
      where.push('created_at >= @since');
      params.since = filter.since;
    }
    if (filter.until !== undefined) {
      where.push('created_at < @until');
      params.until = filter.until;
    }
    if (after !== undefined) {
      // The cursor is the last item's id; its (created_at, id) is the keyset position.
      const pos = this.s.cursor.get(after);
      if (!pos) throw new StoreInputError('after is not a cursor from a previous page', 'after');
      where.push('(created_at, id) < (@cursorTime, @cursorId)');
      params.cursorTime = pos.created_at;
      params.cursorId = after;
    }
    const sql = `SELECT ${COLS} FROM decisions${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT @limit`;
    let stmt = this.listStatements.get(sql);
    if (!stmt) this.listStatements.set(sql, (stmt = this.db.prepare<Record<string, unknown>, DecisionRow>(sql)));
    const rows = stmt.all(params);
    return { items: rows.slice(0, first).map(toRecord), hasNextPage: rows.length > first };
  }
}

function conflict(err: unknown): unknown {
  if (!isUniqueViolation(err)) return err;
  const msg = String((err as Error).message);
  if (msg.includes('idempotency_key')) return new StoreConflictError('a decision with this idempotency key already exists for this agent', 'idempotencyKey');
  return new StoreConflictError('a decision with this id already exists', 'id');
}
