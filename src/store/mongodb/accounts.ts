// Agents, balances and the holds ledger in MongoDB, without multi-document transactions. An agent
// document carries its open holds (`holds.<decisionId>: {m, at}`) beside its balance, and every change is
// ONE conditional single-document update whose filter carries the guard: a hold is
//   {_id, balanceMicros >= m, holds.<d> absent} -> $inc {balanceMicros: -m, heldMicros: +m, holdCount: +1}, $set holds.<d>
// and a settle is
//   {_id, holds.<d> is exactly the hold read} -> $inc {balanceMicros: m - charge, heldMicros: -m, holdCount: -1}, $unset holds.<d>
// MongoDB applies a conditional update to one document atomically (the filter is re-checked under the
// document's write lock), so the balance never goes negative however many holds race, and of any number
// of settlers exactly one matches: the others find the entry gone and move nothing.
import type { Collection, Db, Filter } from 'mongodb';
import type { AccountsStore, AgentRecord, HoldResult, Micros, OpenHold, OpenHoldsCursor, SettleHoldResult } from '../port.js';
import { StoreConflictError, StoreInputError, StoreNotFoundError } from '../port.js';
import { assertAgentRecord, assertHoldKey, assertIsoTime, assertMicros, assertOpenHoldsArgs, toJson } from '../validate.js';
import { duplicateKeyField, isDuplicateKey } from './errors.js';

/** One open hold inside an agent document. */
interface HoldEntry {
  m: number;
  at: string;
  /** Copied by the migration from a pending decision written before the ledger (see OpenHold.migrated). */
  migrated?: true;
}

interface AgentDoc {
  _id: string;
  handle: string;
  keyHash: string;
  balanceMicros: number;
  /** JSON text: the policy's shape is owned by src/accounts, and text round-trips exactly like SQLite. */
  policy: string;
  createdAt: string;
  /** Open holds by decision id. Absent on documents written before the ledger (= none). */
  holds?: Record<string, HoldEntry>;
  /** Sum of the open holds' micros: credit's overflow guard reads it (balance + held stays a safe integer). */
  heldMicros?: number;
  /** Number of open holds, indexed: openHolds reads only agents that have some. */
  holdCount?: number;
}

const holdPath = (decisionId: string) => `holds.${decisionId}`;

function toAgent(d: AgentDoc): AgentRecord {
  return { id: d._id, handle: d.handle, keyHash: d.keyHash, balanceMicros: Number(d.balanceMicros), policy: JSON.parse(d.policy) as unknown, createdAt: d.createdAt };
}

export class MongoAccountsStore implements AccountsStore {
  private readonly agents: Collection<AgentDoc>;

  constructor(db: Db) {
    this.agents = db.collection<AgentDoc>('agents');
  }

  static async ensureSchema(db: Db): Promise<void> {
    await db.collection('agents').createIndexes([
      { key: { handle: 1 }, name: 'handle_1', unique: true },
      { key: { keyHash: 1 }, name: 'keyHash_1', unique: true },
      { key: { createdAt: 1, _id: 1 }, name: 'createdAt_id' },
      // Sparse: agents written before the ledger have no count until their first hold.
      { key: { holdCount: 1 }, name: 'holdCount_1', sparse: true },
    ]);
  }

  /**
   * Upgrading loses nothing: a decision still pending with a recorded hold was held by the code before the
   * ledger (which kept it only in the decision's holdMicros); it gets its ledger entry, flagged migrated.
   * Runs at every open (MongoDB has no schema version to bump) and is safe to repeat or race: an entry is
   * added only while the decision has none, and a migrated entry re-added after its decision was settled is
   * closed by the recovery sweep with no refund (port.ts OpenHold.migrated), so nothing is paid twice.
   * Current code never leaves holdMicros on a pending decision, so only old records match.
   */
  static async migrateHolds(db: Db): Promise<number> {
    const agents = db.collection<AgentDoc>('agents');
    const pending = db.collection<{ _id: string; agentId: string; createdAt: string; holdMicros: number; outcome: string }>('decisions');
    let migrated = 0;
    for await (const d of pending.find({ outcome: 'pending', holdMicros: { $gt: 0 } })) {
      const m = Number(d.holdMicros);
      try {
        assertHoldKey(d._id, 'decisionId');
      } catch {
        continue; // an id no current code writes; its hold stays with the old rules (the sweep's claim)
      }
      const entry: HoldEntry = { m, at: d.createdAt, migrated: true };
      const r = await agents.updateOne({ _id: d.agentId, [holdPath(d._id)]: { $exists: false } } as Filter<AgentDoc>, {
        $set: { [holdPath(d._id)]: entry },
        $inc: { heldMicros: m, holdCount: 1 },
      });
      migrated += r.modifiedCount;
    }
    return migrated;
  }

  async createAgent(agent: AgentRecord): Promise<AgentRecord> {
    assertAgentRecord(agent);
    const doc: AgentDoc = {
      _id: agent.id,
      handle: agent.handle,
      keyHash: agent.keyHash,
      balanceMicros: agent.balanceMicros,
      policy: toJson(agent.policy, 'policy'),
      createdAt: agent.createdAt,
      holds: {},
      heldMicros: 0,
      holdCount: 0,
    };
    try {
      await this.agents.insertOne(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const field = duplicateKeyField(err, ['handle', 'keyHash']) ?? 'id';
      throw new StoreConflictError(`an agent with this ${field} already exists`, field);
    }
    return toAgent(doc);
  }

  async agentsByIds(ids: readonly string[]): Promise<(AgentRecord | null)[]> {
    if (ids.length === 0) return [];
    const found = new Map((await this.agents.find({ _id: { $in: [...ids] } }).toArray()).map((d) => [d._id, toAgent(d)]));
    return ids.map((id) => found.get(id) ?? null);
  }

  async agentByKeyHash(keyHash: string): Promise<AgentRecord | null> {
    const d = await this.agents.findOne({ keyHash });
    return d ? toAgent(d) : null;
  }

  async agentByHandle(handle: string): Promise<AgentRecord | null> {
    const d = await this.agents.findOne({ handle });
    return d ? toAgent(d) : null;
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (await this.agents.find({}).sort({ createdAt: 1, _id: 1 }).toArray()).map(toAgent);
  }

  async setPolicy(id: string, policy: unknown): Promise<AgentRecord | null> {
    const d = await this.agents.findOneAndUpdate({ _id: id }, { $set: { policy: toJson(policy, 'policy') } }, { returnDocument: 'after' });
    return d ? toAgent(d) : null;
  }

  async credit(id: string, micros: Micros): Promise<Micros> {
    assertMicros(micros, 'micros');
    const room = Number.MAX_SAFE_INTEGER - micros;
    // Balance plus open holds (each may come back in full) must stay a safe integer. Documents written
    // before the ledger have no heldMicros ($add would yield null and pass any bound): balance alone there.
    const d = await this.agents.findOneAndUpdate(
      {
        _id: id,
        $or: [{ heldMicros: { $exists: false }, balanceMicros: { $lte: room } }, { heldMicros: { $exists: true }, $expr: { $lte: [{ $add: ['$balanceMicros', '$heldMicros'] }, room] } }],
      },
      { $inc: { balanceMicros: micros } },
      { returnDocument: 'after' },
    );
    if (d) return Number(d.balanceMicros);
    if (!(await this.agents.findOne({ _id: id }))) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    throw new StoreInputError(`micros ${micros} would take the balance (with its open holds) past the largest safe integer`, 'micros');
  }

  async hold(agentId: string, decisionId: string, micros: Micros, createdAt?: string): Promise<HoldResult> {
    assertHoldKey(decisionId, 'decisionId');
    assertMicros(micros, 'micros');
    const at = createdAt ?? new Date().toISOString();
    assertIsoTime(at, 'createdAt');
    const entry: HoldEntry = { m: micros, at };
    const d = await this.agents.findOneAndUpdate(
      { _id: agentId, balanceMicros: { $gte: micros }, [holdPath(decisionId)]: { $exists: false } } as Filter<AgentDoc>,
      { $inc: { balanceMicros: -micros, heldMicros: micros, holdCount: 1 }, $set: { [holdPath(decisionId)]: entry } },
      { returnDocument: 'after' },
    );
    if (d) return { ok: true, balanceMicros: Number(d.balanceMicros) };
    const cur = await this.agents.findOne({ _id: agentId });
    if (!cur) throw new StoreNotFoundError(`no agent with id ${agentId}`, 'id');
    if (ownHold(cur, decisionId)) throw new StoreConflictError(`decision ${decisionId} already has an open hold`, 'decisionId');
    return { ok: false, balanceMicros: Number(cur.balanceMicros) };
  }

  async settleHold(agentId: string, decisionId: string, chargeMicros: Micros): Promise<SettleHoldResult> {
    assertHoldKey(decisionId, 'decisionId');
    assertMicros(chargeMicros, 'chargeMicros');
    // The update needs the hold's amount, so read it first; the update's filter then requires that very
    // entry to still be there, which makes it the arbiter: a racing settler that got there first removed it.
    const cur = await this.agents.findOne({ _id: agentId });
    if (!cur) throw new StoreNotFoundError(`no agent with id ${agentId}`, 'id');
    const h = ownHold(cur, decisionId);
    if (!h) return { settled: false, refundMicros: 0, balanceMicros: Number(cur.balanceMicros) };
    const m = Number(h.m);
    if (chargeMicros > m) throw new StoreInputError(`chargeMicros ${chargeMicros} is more than the hold of ${m}`, 'chargeMicros');
    const refundMicros = m - chargeMicros;
    const path = holdPath(decisionId);
    const d = await this.agents.findOneAndUpdate(
      { _id: agentId, [`${path}.m`]: h.m, [`${path}.at`]: h.at } as Filter<AgentDoc>,
      { $inc: { balanceMicros: refundMicros, heldMicros: -m, holdCount: -1 }, $unset: { [path]: '' } },
      { returnDocument: 'after' },
    );
    if (d) return { settled: true, refundMicros, balanceMicros: Number(d.balanceMicros) };
    const now = await this.agents.findOne({ _id: agentId });
    return { settled: false, refundMicros: 0, balanceMicros: Number(now?.balanceMicros ?? cur.balanceMicros) };
  }

  async openHolds(before: string, limit: number, after?: OpenHoldsCursor): Promise<OpenHold[]> {
    assertOpenHoldsArgs(before, limit, after);
    // Open holds are keyed by decision id inside agent documents, so no index orders them by time: read
    // the agents that have any (holdCount index; about the agents with calls in flight) and order here.
    const out: OpenHold[] = [];
    for await (const doc of this.agents.find({ holdCount: { $gt: 0 } }, { projection: { holds: 1 } })) {
      for (const [decisionId, h] of Object.entries(doc.holds ?? {})) {
        if (h.at >= before) continue;
        if (after && (h.at < after.createdAt || (h.at === after.createdAt && decisionId <= after.decisionId))) continue;
        out.push({ agentId: doc._id, decisionId, micros: Number(h.m), createdAt: h.at, migrated: h.migrated === true });
      }
    }
    out.sort((a, b) => (a.createdAt === b.createdAt ? (a.decisionId < b.decisionId ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));
    return out.slice(0, limit);
  }
}

/**
 * The open hold of `decisionId` in an agent document, if there is one. An own property only: a decision
 * id such as `constructor` or `toString` must not find Object.prototype's member (whose missing `m` would
 * make the settle's filter match an absent field and $inc the balance by NaN).
 */
function ownHold(doc: Pick<AgentDoc, 'holds'>, decisionId: string): HoldEntry | undefined {
  const holds = doc.holds;
  if (!holds || !Object.hasOwn(holds, decisionId)) return undefined;
  const h = holds[decisionId] as HoldEntry | undefined;
  return h && Number.isSafeInteger(Number(h.m)) && typeof h.at === 'string' ? h : undefined;
}
