// Small shared JSON documents (latency, health, outcome signals) in MongoDB: _id = key, value as JSON text.
import type { Collection, Db } from 'mongodb';
import type { StatsStore } from '../port.js';
import { assertString, prefixUpperBound, toJson } from '../validate.js';
import { isDuplicateKey } from './errors.js';

interface StatDoc {
  _id: string;
  value: string;
  updatedAt: string;
}

export class MongoStatsStore implements StatsStore {
  private readonly stats: Collection<StatDoc>;

  constructor(db: Db) {
    this.stats = db.collection<StatDoc>('stats');
  }

  async put(key: string, value: unknown): Promise<void> {
    assertString(key, 'key');
    const update = { $set: { value: toJson(value, 'value'), updatedAt: new Date().toISOString() } };
    try {
      await this.stats.updateOne({ _id: key }, update, { upsert: true });
    } catch (err) {
      // Two first puts of one key race on the insert: the loser's update now finds the document.
      if (!isDuplicateKey(err)) throw err;
      await this.stats.updateOne({ _id: key }, update);
    }
  }

  async get(key: string): Promise<unknown | null> {
    const d = await this.stats.findOne({ _id: key });
    return d ? (JSON.parse(d.value) as unknown) : null;
  }

  async list(prefix: string): Promise<{ key: string; value: unknown; updatedAt: string }[]> {
    // A range on _id (indexed), not a regex that would need escaping.
    const docs = await this.stats.find({ _id: { $gte: prefix, $lt: prefixUpperBound(prefix) } }).sort({ _id: 1 }).toArray();
    return docs.filter((d) => d._id.startsWith(prefix)).map((d) => ({ key: d._id, value: JSON.parse(d.value) as unknown, updatedAt: d.updatedAt }));
  }
}
