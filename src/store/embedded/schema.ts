// Opening the embedded database: pragmas and schema. One file, <dataDir>/ainfera.db, in WAL mode.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export const DB_FILE = 'ainfera.db';
const SCHEMA_VERSION = 3;

/**
 * How long a writer waits for another connection's write lock (another process on the same data
 * directory) before SQLITE_BUSY. Write transactions here last milliseconds, so waiting is always
 * right; failing would turn a harmless overlap into an error. The wait blocks this process's event
 * loop (better-sqlite3 is synchronous), which is why transactions are kept short.
 */
const BUSY_TIMEOUT_MS = 5000;

export interface OpenedDatabase {
  /** The chain and checkpoints: synchronous=FULL, every commit fsynced. */
  chainDb: Database.Database;
  /** Accounts, decisions, stats: synchronous=NORMAL (see below). */
  dataDb: Database.Database;
  file: string;
}

/**
 * Durability, per connection (`synchronous` is a per-connection setting):
 * - chain connection, synchronous=FULL: in WAL mode that fsyncs the WAL at every commit. NORMAL (the
 *   usual WAL choice) only syncs at checkpoints: a commit survives a process crash but can be lost on
 *   power loss. An acknowledged append has been signed, served and maybe checkpointed; losing it would
 *   let the next start re-use its seq for a different entry - a fork third parties can prove. So an
 *   append resolves only after its fsync (one per batch: the appender batches).
 * - data connection, synchronous=NORMAL: a hold, a decision row or a stat survives a process crash at
 *   once, and power loss as soon as the next chain commit fsyncs the WAL - the WAL is one append-only
 *   file, and fsync covers every frame written before it, whichever connection wrote it. The router
 *   appends a `debited`/`refunded` entry right after each balance change, so money movements become
 *   power-loss durable together with the chain entries that record them, without paying an fsync
 *   (~0.2 ms of blocked event loop here) for each of the several small writes behind every call.
 */
export function openDatabase(dataDir: string): OpenedDatabase {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.resolve(dataDir, DB_FILE);
  const chainDb = openConnection(file, 'FULL');
  try {
    migrate(chainDb);
    const dataDb = openConnection(file, 'NORMAL');
    return { chainDb, dataDb, file };
  } catch (err) {
    chainDb.close();
    throw err;
  }
}

function openConnection(file: string, synchronous: 'FULL' | 'NORMAL'): Database.Database {
  const db = new Database(file);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL: readers (the live feed, the API) never block the writer and vice versa, and a commit
    // appends to one file instead of rewriting pages in place.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not enable WAL on ${file} (got ${String(mode)})`);
    db.pragma(`synchronous = ${synchronous}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Database.Database): void {
  // BEGIN IMMEDIATE: two processes opening a fresh data directory at once create the schema once.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version >= SCHEMA_VERSION) return;
    if (version < 1) db.exec(SCHEMA_V1);
    if (version < 2) db.exec(SCHEMA_V2);
    if (version < 3) db.exec(SCHEMA_V3);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS chain (
  seq       INTEGER PRIMARY KEY CHECK (seq >= 0),
  hash      TEXT NOT NULL,
  sig       TEXT NOT NULL,
  key_id    TEXT NOT NULL,
  canonical TEXT NOT NULL,
  kind      TEXT NOT NULL,
  agent     TEXT NOT NULL,
  decision  TEXT NOT NULL,
  time      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chain_by_decision ON chain (decision, seq);
-- The chain is insert-only: signed entries are never rewritten or removed, whoever asks.
CREATE TRIGGER IF NOT EXISTS chain_no_update BEFORE UPDATE ON chain
  BEGIN SELECT RAISE(ABORT, 'chain is insert-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS chain_no_delete BEFORE DELETE ON chain
  BEGIN SELECT RAISE(ABORT, 'chain is insert-only: DELETE refused'); END;

CREATE TABLE IF NOT EXISTS checkpoints (
  idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
  size      INTEGER NOT NULL UNIQUE CHECK (size >= 0),
  root_hash TEXT NOT NULL,
  time      TEXT NOT NULL,
  note      TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'checkpoints are insert-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'checkpoints are insert-only: DELETE refused'); END;

CREATE TABLE IF NOT EXISTS agents (
  id         TEXT PRIMARY KEY,
  handle     TEXT NOT NULL UNIQUE,
  key_hash   TEXT NOT NULL UNIQUE,
  balance    INTEGER NOT NULL CHECK (balance >= 0),
  policy     TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS decisions (
  id              TEXT PRIMARY KEY,
  agent_id        TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  task_type       TEXT NOT NULL,
  model           TEXT,
  provider        TEXT,
  outcome         TEXT NOT NULL,
  hold_micros     INTEGER NOT NULL,
  cost_micros     INTEGER NOT NULL,
  latency_ms      REAL,
  idempotency_key TEXT,
  chain_seqs      TEXT NOT NULL,
  detail          TEXT NOT NULL,
  feedback        TEXT,
  UNIQUE (agent_id, idempotency_key)
);
-- Newest-first keyset pagination on (created_at, id): all decisions (admin), and one agent's (every
-- agent's own listing is scoped to it). See SCHEMA_V2 for why there are no others.
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (created_at, id);
CREATE INDEX IF NOT EXISTS decisions_by_agent ON decisions (agent_id, created_at, id);

CREATE TABLE IF NOT EXISTS stats (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;

/**
 * v2: drops the model / provider / task type / outcome indexes. Every decision is written three or four
 * times on the call path (insert, hold, settle, final record) and outcome, model, provider and task type
 * change in those writes, so each index cost a b-tree update per write (bench:overhead profile: 7 indexes,
 * ~13% of main-thread time per call with the row rewrites). The filters they served (the decisions
 * connection's model/provider/taskType/outcome, src/api/schema/decisions.ts) stay exact: an agent's
 * listing walks its own (agent_id, created_at) index, the admin's walks (created_at) newest first and
 * stops at the page size, checking the other columns on the rows it meets.
 */
const SCHEMA_V2 = `
DROP INDEX IF EXISTS decisions_by_model;
DROP INDEX IF EXISTS decisions_by_provider;
DROP INDEX IF EXISTS decisions_by_task;
DROP INDEX IF EXISTS decisions_by_outcome;
`;

/**
 * v3: the keyed holds ledger. A hold is a row keyed by its decision id, inserted in the same transaction
 * as the balance update that takes it and deleted in the one that gives it back (src/store/embedded/
 * accounts.ts), so taking and settling are each atomic and the settle happens at most once. Keyed by
 * (decision, agent) like the MongoDB adapter, whose holds live inside each agent's document. No index by
 * time: every call inserts and deletes a row, and a second b-tree cost ~20 us per call (hold + settle
 * went from ~59 to ~79 us in a microbenchmark), while the sweep's openHolds reads a table that only ever
 * holds the calls in flight (plus any a crash abandoned), once a minute. Only open
 * holds have rows: the table stays about as large as the number of calls in flight.
 *
 * Upgrading loses nothing: every decision still pending with a recorded hold (held by the code before
 * the ledger, which kept it only in decisions.hold_micros) gets its row, flagged `migrated` (see OpenHold
 * in port.ts for how the recovery sweep settles those). Same transaction as the version bump, so it runs
 * once.
 *
 * decisions_pending: the recovery sweep lists pending decisions older than the routing deadline. Without
 * an outcome index (dropped in v2) that walked every older decision, every minute. This partial index
 * holds only pending rows: a call adds its entry at insert and removes it when it settles (writes that
 * leave outcome alone do not touch it), so it stays as small as the calls in flight.
 */
const SCHEMA_V3 = `
CREATE TABLE IF NOT EXISTS holds (
  decision_id TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  micros      INTEGER NOT NULL CHECK (micros >= 0),
  created_at  TEXT NOT NULL,
  migrated    INTEGER NOT NULL DEFAULT 0 CHECK (migrated IN (0, 1)),
  PRIMARY KEY (decision_id, agent_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decisions_pending ON decisions (created_at, id) WHERE outcome = 'pending';
INSERT OR IGNORE INTO holds (decision_id, agent_id, micros, created_at, migrated)
  SELECT id, agent_id, hold_micros, created_at, 1 FROM decisions WHERE outcome = 'pending' AND hold_micros > 0;
`;

/** better-sqlite3 reports constraint failures as SqliteError with a `code` like SQLITE_CONSTRAINT_UNIQUE. */
export function sqliteCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
