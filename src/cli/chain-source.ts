// Where `ainfera export` and `ainfera verify` read a chain from: a data directory (the store
// directly), a configured store, or a server's public endpoints (paged). All yield the same records.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Envelope, PublicKeyInfo } from '../chain/types.js';
import type { StoredCheckpoint } from '../store/port.js';
import { storeSource, type ChainHead, type ChainSource } from '../chain/export.js';
import { parseCheckpoint } from '../chain/checkpoint.js';
import { loadPublicKeys } from '../chain/keys.js';
import { loadConfig, secretFromEnv } from '../config.js';
import { openStore } from '../store/index.js';
import { UsageError } from './io.js';

export interface OpenedSource {
  source: ChainSource;
  close(): Promise<void>;
}

/** The log's name from a C2SP verifier key "<name>+<hex id>+<base64 key>". */
function nameOfNoteKey(noteKey: string): string {
  return noteKey.split('+')[0] ?? '';
}

/** GET a URL; a refused connection or a non-2xx status is an error naming the URL (404 is returned when `allow404`). */
async function get(url: string, accept: string, allow404 = false): Promise<{ res: Response; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept } });
  } catch (err) {
    throw new Error(`GET ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok && !(allow404 && res.status === 404)) throw new Error(`GET ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return { res, text };
}

async function getJson(url: string): Promise<unknown> {
  const { text } = await get(url, 'application/json');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`GET ${url}: response is not JSON`);
  }
}

/**
 * The snapshot of a server: its latest checkpoint (GET /v1/audit/checkpoint: the note gives the size,
 * the x-checkpoint-index header the block height). The public endpoints have no entry count, so the
 * entries are read until the log's end (a short page).
 */
async function httpHead(base: string): Promise<ChainHead> {
  const url = `${base}/v1/audit/checkpoint`;
  const { res, text } = await get(url, 'text/plain', true);
  if (res.status === 404) {
    if (text.includes('"no_checkpoint"')) return { checkpoint: null, entries: null };
    throw new Error(`GET ${url}: HTTP 404 ${text.slice(0, 200)}`);
  }
  const rawIndex = res.headers.get('x-checkpoint-index') ?? '';
  const index = Number(rawIndex);
  if (!/^[0-9]{1,16}$/.test(rawIndex) || !Number.isSafeInteger(index)) throw new Error(`GET ${url}: no x-checkpoint-index header (the block height of the latest checkpoint)`);
  let size: number;
  try {
    size = parseCheckpoint(text).size;
  } catch (err) {
    throw new Error(`GET ${url}: not a checkpoint: ${(err as Error).message}`);
  }
  return { checkpoint: { index, size }, entries: null };
}

/** A server's public, keyless endpoints as a chain source. */
export function httpSource(baseUrl: string): ChainSource {
  const base = baseUrl.replace(/\/+$/, '');
  let keysP: Promise<PublicKeyInfo[]> | null = null;
  const keys = () =>
    (keysP ??= getJson(`${base}/v1/audit/keys`).then((j) => {
      const k = (j as { keys?: unknown }).keys;
      if (!Array.isArray(k)) throw new Error(`GET ${base}/v1/audit/keys: no "keys" array`);
      return k as PublicKeyInfo[];
    }));
  return {
    describe: base,
    keys,
    async origin() {
      const first = (await keys())[0];
      return first ? nameOfNoteKey(first.noteKey) : '';
    },
    head: () => httpHead(base),
    async entries(from, limit) {
      const j = (await getJson(`${base}/v1/audit/public?from=${from}&limit=${limit}`)) as { entries?: unknown };
      if (!Array.isArray(j.entries)) throw new Error(`GET ${base}/v1/audit/public: no "entries" array`);
      return j.entries as Envelope[];
    },
    async checkpoints(from, limit) {
      const j = (await getJson(`${base}/v1/audit/checkpoints?from=${from}&limit=${limit}`)) as { checkpoints?: unknown };
      if (!Array.isArray(j.checkpoints)) throw new Error(`GET ${base}/v1/audit/checkpoints: no "checkpoints" array`);
      return j.checkpoints as StoredCheckpoint[];
    },
  };
}

/** Fetch a served consistency proof (the verifier checks it against the checkpoints' roots). */
export async function fetchConsistency(baseUrl: string, from: number, to: number): Promise<string[]> {
  const j = (await getJson(`${baseUrl.replace(/\/+$/, '')}/v1/audit/consistency?from=${from}&to=${to}`)) as { hashes?: unknown };
  if (!Array.isArray(j.hashes) || !j.hashes.every((h) => typeof h === 'string')) throw new Error('consistency response has no "hashes" array');
  return j.hashes as string[];
}

export interface SourceArgs {
  url?: string | undefined;
  dataDir?: string | undefined;
  config?: string | undefined;
}

/** Open a data directory's (or the configured) store with its public keys. */
export async function openLocalSource(args: SourceArgs, env: NodeJS.ProcessEnv): Promise<OpenedSource> {
  let dataDir = args.dataDir;
  let storeOpts: Parameters<typeof openStore>[0] | undefined;
  let origin: string | undefined;
  let keyFile: string | undefined;
  let envVar: string | undefined;
  if (dataDir === undefined) {
    const config = loadConfig({ ...(args.config !== undefined ? { path: args.config } : {}), env });
    origin = config.chain.origin;
    keyFile = config.chain.keyFile;
    envVar = config.chain.signingKeyEnv;
    dataDir = config.store.dataDir;
    if (config.store.kind === 'mongodb') {
      const uri = secretFromEnv(config.store.uriEnv, env);
      if (!uri) throw new UsageError(`store is mongodb but ${config.store.uriEnv} is not set`);
      storeOpts = { kind: 'mongodb', uri, dbName: config.store.dbName };
    }
  }
  if (!storeOpts) {
    if (!existsSync(join(dataDir, 'ainfera.db'))) throw new UsageError(`no chain in ${dataDir} (no ainfera.db there)`);
    storeOpts = { kind: 'embedded', dataDir };
  }
  const pub = loadPublicKeys({ dataDir, ...(keyFile ? { keyFile } : {}), ...(origin ? { origin } : {}), ...(envVar ? { envVar } : {}), env });
  const store = await openStore(storeOpts);
  return { source: storeSource(store.chain, pub.origin, pub.keys, storeOpts.kind === 'embedded' ? `data-dir:${dataDir}` : 'mongodb'), close: () => store.close() };
}
