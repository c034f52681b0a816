// The MongoDB store: for several gateway instances on one replica set (or sharded cluster). Works on a
// standalone server too; only the live feed differs (change streams need a replica set; elsewhere it polls).
import { MongoClient } from 'mongodb';
import type { Store } from '../port.js';
import { MongoAccountsStore } from './accounts.js';
import { MongoChainStore } from './chain.js';
import { MongoDecisionsStore } from './decisions.js';
import { MongoStatsStore } from './stats.js';

export interface MongoStoreOptions {
  uri: string;
  /** Defaults to the database named in the URI, else "ainfera". */
  dbName?: string;
  /** Try change streams for the live feed (default true); false forces polling by seq. */
  changeStreams?: boolean;
}

export type MongoStore = Store & { readonly kind: 'mongodb'; readonly chain: MongoChainStore };

export async function openMongoStore(opts: MongoStoreOptions): Promise<MongoStore> {
  const client = new MongoClient(opts.uri, {
    // Nothing resolves before it is journaled on a majority: an acknowledged append survives a failover.
    writeConcern: { w: 'majority', journal: true },
    appName: 'ainfera',
  });
  await client.connect();
  try {
    const db = client.db(opts.dbName ?? dbNameFromUri(opts.uri) ?? 'ainfera');
    await Promise.all([MongoChainStore.ensureSchema(db), MongoAccountsStore.ensureSchema(db), MongoDecisionsStore.ensureSchema(db)]);
    // Holds recorded only on pending decisions by versions before the ledger (a no-op once there are none).
    await MongoAccountsStore.migrateHolds(db);
    const chain = new MongoChainStore(db, { changeStreams: opts.changeStreams ?? true });
    let closed = false;
    return {
      kind: 'mongodb',
      chain,
      accounts: new MongoAccountsStore(db),
      decisions: new MongoDecisionsStore(db),
      stats: new MongoStatsStore(db),
      async ping() {
        await db.command({ ping: 1 });
      },
      async close() {
        if (closed) return;
        closed = true;
        await chain.close();
        await client.close();
      },
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** The database in `mongodb://host/db?...` (the driver's own default, "test", is not what we want). */
function dbNameFromUri(uri: string): string | undefined {
  const m = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(uri);
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}
