// Decisions in MongoDB: indexed fields for the list filters, JSON text for the private detail, newest-
// first keyset pagination on (createdAt, _id).
import type { Collection, Db, Filter } from 'mongodb';
import type { DecisionFilter, DecisionOutcome, DecisionPage, DecisionRecord, DecisionsStore } from '../port.js';
import { StoreConflictError, StoreInputError } from '../port.js';
import { assertDecisionFields, assertLimit, assertString, DECISION_OUTCOMES, toJson } from '../validate.js';
import { duplicateKeyField, isDuplicateKey } from './errors.js';

interface DecisionDoc {
  _id: string;
  agentId: string;
  createdAt: string;
  taskType: string;
  model: string | null;
  provider: string | null;
  outcome: string;
  holdMicros: number;
  costMicros: number;
  latencyMs: number | null;
  idempotencyKey: string | null;
  /**
   * agentId + NUL + idempotencyKey, present only when the key is set. A sparse unique index on this one
   * field enforces (agentId, idempotencyKey) uniqueness while decisions without a key never collide
   * (a compound unique index would index their nulls; sparse indexes work on every server and look-alike,
   * partial ones do not).
   */
  idem?: string;
  chainSeqs: number[];
  detail: string;
  feedback: DecisionRecord['feedback'];
}

type Patch = Partial<Omit<DecisionRecord, 'id' | 'agentId' | 'createdAt'>>;

const idemOf = (agentId: string, key: string) => `${agentId}\u0000${key}`;

function toDoc(d: DecisionRecord): DecisionDoc {
  const doc: DecisionDoc = {
    _id: d.id,
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
    chainSeqs: [...d.chainSeqs],
    detail: toJson(d.detail, 'detail'),
    feedback: d.feedback ?? null,
  };
  if (doc.idempotencyKey !== null) doc.idem = idemOf(d.agentId, doc.idempotencyKey);
  return doc;
}

function toRecord(d: DecisionDoc): DecisionRecord {
  return {
    id: d._id,
    agentId: d.agentId,
    createdAt: d.createdAt,
    taskType: d.taskType,
    model: d.model ?? null,
    provider: d.provider ?? null,
    outcome: d.outcome as DecisionOutcome,
    holdMicros: Number(d.holdMicros),
    costMicros: Number(d.costMicros),
    latencyMs: d.latencyMs ?? null,
    idempotencyKey: d.idempotencyKey ?? null,
    chainSeqs: (d.chainSeqs ?? []).map(Number),
    detail: JSON.parse(d.detail) as unknown,
    feedback: d.feedback ?? null,
  };
}

function conflict(err: unknown): unknown {
  if (!isDuplicateKey(err)) return err;
  if (duplicateKeyField(err, ['idem']) === 'idem') {
    return new StoreConflictError('a decision with this idempotency key already exists for this agent', 'idempotencyKey');
  }
  return new StoreConflictError('a decision with this id already exists', 'id');
}

export class MongoDecisionsStore implements DecisionsStore {
  private readonly decisions: Collection<DecisionDoc>;

  constructor(db: Db) {
    this.decisions = db.collection<DecisionDoc>('decisions');
  }

  static async ensureSchema(db: Db): Promise<void> {
    const byTime = { createdAt: -1, _id: -1 } as const;
    await db.collection('decisions').createIndexes([
      { key: { idem: 1 }, name: 'idem_1', unique: true, sparse: true },
      { key: byTime, name: 'createdAt_id' },
      { key: { agentId: 1, ...byTime }, name: 'agentId_createdAt_id' },
      { key: { model: 1, ...byTime }, name: 'model_createdAt_id' },
      { key: { provider: 1, ...byTime }, name: 'provider_createdAt_id' },
      { key: { taskType: 1, ...byTime }, name: 'taskType_createdAt_id' },
      { key: { outcome: 1, ...byTime }, name: 'outcome_createdAt_id' },
    ]);
  }

  async insert(decision: DecisionRecord): Promise<void> {
    assertDecisionFields(decision, true);
    try {
      await this.decisions.insertOne(toDoc(decision));
    } catch (err) {
      throw conflict(err);
    }
  }

  async update(id: string, patch: Patch): Promise<DecisionRecord | null> {
    return this.patch(id, patch, false);
  }

  async updateIfPending(id: string, patch: Patch): Promise<DecisionRecord | null> {
    return this.patch(id, patch, true);
  }

  /** One findOneAndUpdate whose filter carries the condition: atomic on the document, across processes. */
  private async patch(id: string, patch: Patch, onlyPending: boolean): Promise<DecisionRecord | null> {
    assertString(id, 'id');
    assertDecisionFields(patch, false);
    const filter: Filter<DecisionDoc> = onlyPending ? { _id: id, outcome: 'pending' } : { _id: id };
    const set: Record<string, unknown> = {};
    const unset: Record<string, ''> = {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      set[k] = k === 'detail' ? toJson(v, 'detail') : v;
    }
    if ('idempotencyKey' in set) {
      const key = set.idempotencyKey as string | null;
      if (key === null) unset.idem = '';
      else {
        const cur = await this.decisions.findOne({ _id: id });
        if (!cur) return null;
        set.idem = idemOf(cur.agentId, key);
      }
    }
    const update: Record<string, unknown> = {};
    if (Object.keys(set).length > 0) update.$set = set;
    if (Object.keys(unset).length > 0) update.$unset = unset;
    if (Object.keys(update).length === 0) {
      const d = await this.decisions.findOne(filter);
      return d ? toRecord(d) : null;
    }
    try {
      const d = await this.decisions.findOneAndUpdate(filter, update, { returnDocument: 'after' });
      return d ? toRecord(d) : null;
    } catch (err) {
      throw conflict(err);
    }
  }

  async byIds(ids: readonly string[]): Promise<(DecisionRecord | null)[]> {
    if (ids.length === 0) return [];
    const found = new Map((await this.decisions.find({ _id: { $in: [...ids] } }).toArray()).map((d) => [d._id, toRecord(d)]));
    return ids.map((id) => found.get(id) ?? null);
  }

  async byIdempotencyKey(agentId: string, key: string): Promise<DecisionRecord | null> {
    const d = await this.decisions.findOne({ idem: idemOf(agentId, key) });
    return d ? toRecord(d) : null;
  }

  async list(filter: DecisionFilter, first: number, after?: string): Promise<DecisionPage> {
    assertLimit(first, 'first');
    if (filter.outcome !== undefined && !DECISION_OUTCOMES.includes(filter.outcome)) {
      throw new StoreInputError(`outcome must be one of ${DECISION_OUTCOMES.join(', ')}`, 'outcome');
    }
    const and: Filter<DecisionDoc>[] = [];
    for (const k of ['agentId', 'model', 'provider', 'taskType', 'outcome'] as const) {
      if (filter[k] !== undefined) and.push({ [k]: filter[k] });
    }
    if (filter.since !== undefined) and.push({ createdAt: { $gte: filter.since } });
    if (filter.until !== undefined) and.push({ createdAt: { $lt: filter.until } });
    if (after !== undefined) {
      // The cursor is the last item's id; its (createdAt, _id) is the keyset position.
      const pos = await this.decisions.findOne({ _id: after });
      if (!pos) throw new StoreInputError('after is not a cursor from a previous page', 'after');
      and.push({ $or: [{ createdAt: { $lt: pos.createdAt } }, { createdAt: pos.createdAt, _id: { $lt: after } }] });
    }
    if (first === 0) {
      const one = await this.decisions.find(and.length ? { $and: and } : {}).limit(1).toArray();
      return { items: [], hasNextPage: one.length > 0 };
    }
    const docs = await this.decisions
      .find(and.length ? { $and: and } : {})
      .sort({ createdAt: -1, _id: -1 })
      .limit(first + 1)
      .toArray();
    return { items: docs.slice(0, first).map(toRecord), hasNextPage: docs.length > first };
  }
}
