// Opening the configured store. The embedded SQLite store is the default; the MongoDB adapter (and its
// driver) is loaded only when configured, so a default start never pays for it.
import type { Store } from './port.js';

export type OpenStoreOptions =
  | { kind: 'embedded'; /** Created if missing; the database is <dataDir>/ainfera.db. */ dataDir: string }
  | { kind: 'mongodb'; uri: string; /** Defaults to the URI's database, else "ainfera". */ dbName?: string };

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  switch (opts.kind) {
    case 'embedded': {
      const { openEmbeddedStore } = await import('./embedded/index.js');
      return openEmbeddedStore(opts.dataDir);
    }
    case 'mongodb': {
      const { openMongoStore } = await import('./mongodb/index.js');
      return openMongoStore(opts);
    }
    default:
      throw new TypeError(`unknown store kind ${String((opts as { kind: unknown }).kind)}`);
  }
}

export * from './port.js';
