// The embedded (default) store: one SQLite file in the data directory, shared safely by several
// Store instances and several processes (WAL, BEGIN IMMEDIATE appends, busy_timeout).
import type { Store } from '../port.js';
import { SqliteAccountsStore } from './accounts.js';
import { SqliteChainStore } from './chain.js';
import { SqliteDecisionsStore } from './decisions.js';
import { openDatabase } from './schema.js';
import { SqliteStatsStore } from './stats.js';

export { DB_FILE } from './schema.js';

export async function openEmbeddedStore(dataDir: string): Promise<Store> {
  const { chainDb, dataDb, file } = openDatabase(dataDir);
  const chain = new SqliteChainStore(chainDb, file);
  let closed = false;
  return {
    kind: 'embedded',
    chain,
    accounts: new SqliteAccountsStore(dataDb),
    decisions: new SqliteDecisionsStore(dataDb),
    stats: new SqliteStatsStore(dataDb),
    // Synchronous driver: a closed connection throws here, which the async function turns into a rejection.
    async ping() {
      dataDb.prepare('SELECT 1').get();
    },
    async close() {
      if (closed) return;
      closed = true;
      chain.close();
      dataDb.close();
      chainDb.close();
    },
  };
}
