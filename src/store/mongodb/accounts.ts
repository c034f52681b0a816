// Agents and balances in MongoDB. A hold is one findOneAndUpdate whose filter carries the guard
// (balance >= amount) and whose update is $inc: atomic on the document, so the balance never goes
// negative however many holds race.
import type { Collection, Db } from 'mongodb';
import type { AccountsStore, AgentRecord, HoldResult, Micros } from '../port.js';
import { StoreConflictError, StoreInputError, StoreNotFoundError } from '../port.js';
import { assertAgentRecord, assertMicros, toJson } from '../validate.js';
import { duplicateKeyField, isDuplicateKey } from './errors.js';

interface AgentDoc {
  _id: string;
  handle: string;
  keyHash: string;
  balanceMicros: number;
  /** JSON text: the policy's shape is owned by src/accounts, and text round-trips exactly like SQLite. */
  policy: string;
  createdAt: string;
}

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
    ]);
  }

  async createAgent(agent: AgentRecord): Promise<AgentRecord> {
    assertAgentRecord(agent);
    const doc: AgentDoc = { _id: agent.id, handle: agent.handle, keyHash: agent.keyHash, balanceMicros: agent.balanceMicros, policy: toJson(agent.policy, 'policy'), createdAt: agent.createdAt };
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
    return this.add(id, micros);
  }

  async hold(id: string, micros: Micros): Promise<HoldResult> {
    assertMicros(micros, 'micros');
    const d = await this.agents.findOneAndUpdate({ _id: id, balanceMicros: { $gte: micros } }, { $inc: { balanceMicros: -micros } }, { returnDocument: 'after' });
    if (d) return { ok: true, balanceMicros: Number(d.balanceMicros) };
    const cur = await this.agents.findOne({ _id: id });
    if (!cur) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    return { ok: false, balanceMicros: Number(cur.balanceMicros) };
  }

  async release(id: string, micros: Micros): Promise<Micros> {
    return this.add(id, micros);
  }

  private async add(id: string, micros: Micros): Promise<Micros> {
    assertMicros(micros, 'micros');
    const d = await this.agents.findOneAndUpdate(
      { _id: id, balanceMicros: { $lte: Number.MAX_SAFE_INTEGER - micros } },
      { $inc: { balanceMicros: micros } },
      { returnDocument: 'after' },
    );
    if (d) return Number(d.balanceMicros);
    if (!(await this.agents.findOne({ _id: id }))) throw new StoreNotFoundError(`no agent with id ${id}`, 'id');
    throw new StoreInputError(`micros ${micros} would take the balance past the largest safe integer`, 'micros');
  }
}
