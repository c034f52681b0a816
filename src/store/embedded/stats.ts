// Small shared JSON documents (latency, health, outcome signals) in SQLite: key -> JSON text.
import type Database from 'better-sqlite3';
import type { StatsStore } from '../port.js';
import { assertString, prefixUpperBound, toJson } from '../validate.js';

interface StatRow {
  key: string;
  value: string;
  updated_at: string;
}

export class SqliteStatsStore implements StatsStore {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      put: db.prepare<[string, string, string]>(
        'INSERT INTO stats (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      ),
      get: db.prepare<[string], { value: string }>('SELECT value FROM stats WHERE key = ?'),
      // A range on the primary key (not LIKE, which treats % and _ in the prefix as wildcards).
      list: db.prepare<[string, string], StatRow>('SELECT key, value, updated_at FROM stats WHERE key >= ? AND key < ? ORDER BY key'),
    };
  }

  async put(key: string, value: unknown): Promise<void> {
    assertString(key, 'key');
    this.s.put.run(key, toJson(value, 'value'), new Date().toISOString());
  }

  async get(key: string): Promise<unknown | null> {
    const r = this.s.get.get(key);
    return r ? (JSON.parse(r.value) as unknown) : null;
  }

  async list(prefix: string): Promise<{ key: string; value: unknown; updatedAt: string }[]> {
    return this.s.list
      .all(prefix, prefixUpperBound(prefix))
      .filter((r) => r.key.startsWith(prefix))
      .map((r) => ({ key: r.key, value: JSON.parse(r.value) as unknown, updatedAt: r.updated_at }));
  }
}
