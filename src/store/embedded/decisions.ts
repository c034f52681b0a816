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
const COLS_NO_DETAIL = COLS.replace(' detail,', '');

/**
 * Sets `key` on `rec` to JSON.parse(text) on first read (then a plain data property). Most readers never
 * look at the JSON columns (the gateway's conditional updates, list pages that ask for a few columns);
 * the detail is ~26 KB for a call with 50 scored candidates, so parsing it eagerly was most of the cost
 * of every read. Enumerable, so spreading or comparing a record sees the value as before.
 */
function lazyJson<K extends 'chainSeqs' | 'detail' | 'feedback'>(rec: DecisionRecord, key: K, text: string): void {
  const settle = (value: unknown) => Object.defineProperty(rec, key, { value, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(rec, key, {
    enumerable: true,
    configurable: true,
    get: () => {
      const value = JSON.parse(text) as unknown;
      settle(value);
      return value;
    },
    set: settle,
  });
}

function toRecord(r: DecisionRow): DecisionRecord {
  const rec = {
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
    feedback: null,
  } as unknown as DecisionRecord;
  lazyJson(rec, 'chainSeqs', r.chain_seqs);
  lazyJson(rec, 'detail', r.detail);
  if (r.feedback !== null) lazyJson(rec, 'feedback', r.feedback);
  return rec;
}

/** Patch field -> column and how its value is stored. */
const PATCH_COLS: Record<keyof Patch, [string, (v: never) => unknown]> = {
  taskType: ['task_type', (v: string) => v],
  model: ['model', (v: string | null) => v ?? null],
  provider: ['provider', (v: string | null) => v ?? null],
  outcome: ['outcome', (v: string) => v],
  holdMicros: ['hold_micros', (v: number) => v],
  costMicros: ['cost_micros', (v: number) => v],
  latencyMs: ['latency_ms', (v: number | null) => v ?? null],
  idempotencyKey: ['idempotency_key', (v: string | null) => v ?? null],
  chainSeqs: ['chain_seqs', (v: number[]) => JSON.stringify(v)],
  detail: ['detail', (v: unknown) => toJson(v, 'detail')],
  feedback: ['feedback', (v: DecisionRecord['feedback']) => (v == null ? null : JSON.stringify(v))],
};

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
  /** UPDATE statements by (patched fields, conditional), prepared once each. */
  private readonly updateStatements = new Map<string, Database.Statement<unknown[], DecisionRow>>();

  constructor(private readonly db: Database.Database) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO decisions (${COLS}) VALUES (@id, @agentId, @createdAt, @taskType, @model, @provider, @outcome, @holdMicros, @costMicros, @latencyMs, @idempotencyKey, @chainSeqs, @detail, @feedback)`,
      ),
      byIds: db.prepare<[string], DecisionRow>(`SELECT ${COLS} FROM decisions WHERE id IN (SELECT value FROM json_each(?))`),
      byKey: db.prepare<[string, string], DecisionRow>(`SELECT ${COLS} FROM decisions WHERE agent_id = ? AND idempotency_key = ?`),
      cursor: db.prepare<[string], { created_at: string }>('SELECT created_at FROM decisions WHERE id = ?'),
    };
  }

  /**
   * One UPDATE of only the patched columns, conditional on `outcome = 'pending'` when asked, returning the
   * row. A single statement is atomic (SQLite's write lock, across processes), so the pending check and
   * the write cannot be split by another writer, and fields this patch does not name are never touched,
   * so concurrent patches of different fields never lose each other. Untouched columns also leave their
   * indexes alone; the old read-merge-rewrite-reread rewrote every column and re-parsed the detail twice.
   */
  private patch(id: string, patch: Patch, onlyPending: boolean): DecisionRecord | null {
    const keys = (Object.keys(patch) as (keyof Patch)[]).filter((k) => patch[k] !== undefined);
    const sig = `${onlyPending ? 'p' : 'a'}:${keys.join(',')}`;
    // A patch that writes the detail does not read it back: the stored text is the one just bound (the
    // detail is ~10-26 KB, and copying it out of SQLite into a new string was most of the final write).
    const detailAt = keys.indexOf('detail');
    let stmt = this.updateStatements.get(sig);
    if (!stmt) {
      const set = keys.length ? keys.map((k) => `${PATCH_COLS[k][0]} = ?`).join(', ') : 'id = id';
      const returning = detailAt >= 0 ? COLS_NO_DETAIL : COLS;
      const sql = `UPDATE decisions SET ${set} WHERE id = ?${onlyPending ? " AND outcome = 'pending'" : ''} RETURNING ${returning}`;
      this.updateStatements.set(sig, (stmt = this.db.prepare<unknown[], DecisionRow>(sql)));
    }
    const params = keys.map((k) => (PATCH_COLS[k][1] as (v: unknown) => unknown)(patch[k]));
    params.push(id);
    const row = stmt.get(...params);
    if (row && detailAt >= 0) row.detail = params[detailAt] as string;
    return row ? toRecord(row) : null;
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
      return this.patch(id, patch, false);
    } catch (err) {
      throw conflict(err);
    }
  }

  async updateIfPending(id: string, patch: Patch): Promise<DecisionRecord | null> {
    assertString(id, 'id');
    assertDecisionFields(patch, false);
    try {
      return this.patch(id, patch, true);
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
      if (filter[key] === undefined) continue;
      if (key === 'outcome') {
        // A literal (the value was checked against the four outcomes above), so that the planner can use
        // the partial index of pending decisions (schema v3) for the recovery sweep's listing: a bound
        // parameter cannot prove the index's WHERE clause at prepare time.
        where.push(`outcome = '${filter.outcome}'`);
        continue;
      }
      where.push(`${col} = @${key}`);
      params[key] = filter[key];
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
