// The chain's Ed25519 signing keys: loaded from a key file or an env var, created on first start of
// the default run, rotated with old public keys kept (with validity ranges) so old entries still verify.
//
// Entry key id (the `keyId` of every envelope): the first 8 bytes of SHA-256(raw 32-byte public key),
// as 16 lowercase hex characters. It depends on the key only (not on the log's name), so it stays stable
// if the origin is renamed. Checkpoints carry the separate C2SP signed-note key id (4 bytes, derived
// from name + key), served as `noteKey` in GET /v1/audit/keys.
//
// Key file (<dataDir>/signing-key.json, mode 0600, never group/other readable):
//   { "format": "ainfera-signing-keys/v1", "origin": "...",
//     "current": { "seed": "<base64 32 bytes>", "publicKey": "<base64>", "keyId": "...", "validFrom": "<ISO>" },
//     "retired": [ { "publicKey": "...", "keyId": "...", "validFrom": "<ISO>", "validUntil": "<ISO>" } ] }
// Node-only (server and CLI); the pure verifier never needs this module.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PublicKeyInfo } from './types.js';
import { createNodeSigner, nodeCrypto } from './node-crypto.js';
import { isValidNoteName, noteVerifierKey } from './checkpoint.js';

export const KEY_FILE_NAME = 'signing-key.json';
export const KEY_FILE_FORMAT = 'ainfera-signing-keys/v1';
export const DEFAULT_ORIGIN = 'ainfera.local/chain';
/** Validity start assumed for a key given only as an env seed (no file says when it began). */
export const ENV_KEY_VALID_FROM = '1970-01-01T00:00:00.000Z';

/** A key could not be loaded, created or rotated; `code` says why. The message never contains key material. */
export class KeyError extends Error {
  override readonly name = 'KeyError';
  constructor(
    message: string,
    readonly code: 'insecure_permissions' | 'invalid_key_file' | 'invalid_env_key' | 'missing_key' | 'io',
  ) {
    super(message);
  }
}

/** Signs with the current key. */
export interface ChainSigner {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface ChainKeys {
  /** Checkpoint origin line and signed-note signer name. */
  readonly origin: string;
  readonly signer: ChainSigner;
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  /** C2SP verifier key string of the current key. */
  readonly noteKey: string;
  /** Current key first, then retired ones, in the GET /v1/audit/keys format. */
  publicKeys(): PublicKeyInfo[];
  /** The raw 32-byte seed, for the appender's signing workers only. Never log it. */
  seed(): Uint8Array;
  /** Where the keys came from (a path, or `env:NAME`). */
  readonly source: string;
}

interface KeyFileCurrent {
  seed: string;
  publicKey: string;
  keyId: string;
  validFrom: string;
}
interface KeyFileRetired {
  publicKey: string;
  keyId: string;
  validFrom: string;
  validUntil: string;
}
export interface KeyFile {
  format: typeof KEY_FILE_FORMAT;
  origin: string;
  current: KeyFileCurrent;
  retired: KeyFileRetired[];
}

/** Entry key id: hex of the first 8 bytes of SHA-256(public key). */
export function entryKeyId(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function decodeSeed(text: string, what: string, code: KeyError['code']): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.trim())) throw new KeyError(`${what}: not base64`, code);
  const bytes = new Uint8Array(Buffer.from(text.trim(), 'base64'));
  if (bytes.length !== 32) throw new KeyError(`${what}: an Ed25519 seed is 32 bytes, got ${bytes.length}`, code);
  return bytes;
}

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(value) && !Number.isNaN(Date.parse(value));
}

function makeKeys(origin: string, seed: Uint8Array, validFrom: string, retired: KeyFileRetired[], source: string): ChainKeys {
  const node = createNodeSigner(seed);
  const publicKey = node.publicKey;
  const keyId = entryKeyId(publicKey);
  const signer: ChainSigner = { keyId, publicKey, sign: (m) => node.sign(m) };
  const noteKey = noteVerifierKey(origin, publicKey, nodeCrypto);
  const seedCopy = new Uint8Array(seed);
  return {
    origin,
    signer,
    keyId,
    publicKey,
    noteKey,
    source,
    seed: () => new Uint8Array(seedCopy),
    publicKeys: () => [
      { keyId, algorithm: 'ed25519', publicKey: b64(publicKey), noteKey, validFrom, validUntil: null },
      ...retired.map((r) => {
        const pub = new Uint8Array(Buffer.from(r.publicKey, 'base64'));
        return {
          keyId: r.keyId,
          algorithm: 'ed25519' as const,
          publicKey: r.publicKey,
          noteKey: noteVerifierKey(origin, pub, nodeCrypto),
          validFrom: r.validFrom,
          validUntil: r.validUntil,
        };
      }),
    ],
  };
}

/** Refuse key files other users can read: the seed is the log's whole authority. */
function assertPrivate(path: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyError(
      `refusing to load signing key ${path}: mode ${mode.toString(8).padStart(4, '0')} lets group/others read it; run: chmod 600 ${path}`,
      'insecure_permissions',
    );
  }
}

export function parseKeyFile(text: string, path: string): KeyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new KeyError(`${path}: not valid JSON`, 'invalid_key_file');
  }
  const bad = (field: string, why: string): never => {
    throw new KeyError(`${path}: field ${field} ${why}`, 'invalid_key_file');
  };
  if (typeof raw !== 'object' || raw === null) bad('(root)', 'must be an object');
  const o = raw as Record<string, unknown>;
  if (o.format !== KEY_FILE_FORMAT) bad('format', `must be "${KEY_FILE_FORMAT}"`);
  if (!isValidNoteName(o.origin)) bad('origin', 'must be a non-empty string without white space, "+" or control characters');
  const cur = o.current as Record<string, unknown> | undefined;
  if (typeof cur !== 'object' || cur === null) bad('current', 'must be an object');
  const c = cur as Record<string, unknown>;
  if (typeof c.seed !== 'string') bad('current.seed', 'must be a base64 string');
  const seed = decodeSeed(c.seed as string, `${path}: field current.seed`, 'invalid_key_file');
  if (!isIsoTime(c.validFrom)) bad('current.validFrom', 'must be an RFC 3339 UTC time');
  const pub = createNodeSigner(seed).publicKey;
  if (c.publicKey !== undefined && c.publicKey !== b64(pub)) bad('current.publicKey', 'does not match the seed');
  if (!Array.isArray(o.retired)) bad('retired', 'must be an array');
  const retired = (o.retired as unknown[]).map((r, i) => {
    const x = r as Record<string, unknown>;
    if (typeof x !== 'object' || x === null) bad(`retired[${i}]`, 'must be an object');
    if (typeof x.publicKey !== 'string' || Buffer.from(x.publicKey, 'base64').length !== 32) bad(`retired[${i}].publicKey`, 'must be base64 of 32 bytes');
    if (!isIsoTime(x.validFrom)) bad(`retired[${i}].validFrom`, 'must be an RFC 3339 UTC time');
    if (!isIsoTime(x.validUntil)) bad(`retired[${i}].validUntil`, 'must be an RFC 3339 UTC time');
    const rpub = new Uint8Array(Buffer.from(x.publicKey as string, 'base64'));
    return { publicKey: x.publicKey as string, keyId: entryKeyId(rpub), validFrom: x.validFrom as string, validUntil: x.validUntil as string };
  });
  return {
    format: KEY_FILE_FORMAT,
    origin: o.origin as string,
    current: { seed: c.seed as string, publicKey: b64(pub), keyId: entryKeyId(pub), validFrom: c.validFrom as string },
    retired,
  };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Write a new file with mode 0600 from the first byte (never chmod after), durably, atomically. */
function writePrivateFile(path: string, text: string, { replace }: { replace: boolean }): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (replace) {
      renameSync(tmp, path);
      return true;
    }
    // link() fails if the target exists: two processes starting at once never overwrite each other's key.
    try {
      linkSync(tmp, path);
      return true;
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    }
  } finally {
    if (!replace) {
      try {
        unlinkSync(tmp);
      } catch {
        /* already gone */
      }
    }
  }
}

function readKeyFile(path: string): KeyFile {
  assertPrivate(path);
  return parseKeyFile(readFileSync(path, 'utf8'), path);
}

function newKeyFile(origin: string, now: Date): KeyFile {
  const seed = new Uint8Array(randomBytes(32));
  const pub = createNodeSigner(seed).publicKey;
  return {
    format: KEY_FILE_FORMAT,
    origin,
    current: { seed: b64(seed), publicKey: b64(pub), keyId: entryKeyId(pub), validFrom: now.toISOString() },
    retired: [],
  };
}

export interface LoadKeysOptions {
  /** Explicit key file; default <dataDir>/signing-key.json. */
  keyFile?: string;
  dataDir?: string;
  /** Create the key file when missing (the default run). Default false. */
  create?: boolean;
  /** Checkpoint origin; default: the key file's, else DEFAULT_ORIGIN. */
  origin?: string;
  /** Env var holding a base64 seed; default AINFERA_SIGNING_KEY. Takes precedence over the file. */
  envVar?: string;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

function keyFilePath(opts: LoadKeysOptions): string | undefined {
  if (opts.keyFile) return opts.keyFile;
  if (opts.dataDir) return join(opts.dataDir, KEY_FILE_NAME);
  return undefined;
}

/**
 * Load the signing keys. Order: the env seed (if set; public keys of a key file beside it are still
 * listed as retired so older entries verify), else the key file, else (create: true) a new key file.
 */
export function loadSigningKeys(opts: LoadKeysOptions = {}): ChainKeys {
  const env = opts.env ?? process.env;
  const envVar = opts.envVar ?? 'AINFERA_SIGNING_KEY';
  const now = opts.now ?? (() => new Date());
  const path = keyFilePath(opts);
  const envSeedText = env[envVar];

  let file: KeyFile | undefined;
  if (path) {
    try {
      file = readKeyFile(path);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
  }
  const origin = opts.origin ?? file?.origin ?? DEFAULT_ORIGIN;
  if (!isValidNoteName(origin)) throw new KeyError(`origin must be non-empty with no white space, "+" or control characters`, 'invalid_key_file');

  if (envSeedText !== undefined && envSeedText !== '') {
    const seed = decodeSeed(envSeedText, `environment variable ${envVar}`, 'invalid_env_key');
    const keyId = entryKeyId(createNodeSigner(seed).publicKey);
    let validFrom = ENV_KEY_VALID_FROM;
    const others: KeyFileRetired[] = [];
    if (file) {
      if (file.current.keyId === keyId) validFrom = file.current.validFrom;
      else others.push({ publicKey: file.current.publicKey, keyId: file.current.keyId, validFrom: file.current.validFrom, validUntil: now().toISOString() });
      for (const r of file.retired) if (r.keyId !== keyId) others.push(r);
    }
    return makeKeys(origin, seed, validFrom, others, `env:${envVar}`);
  }

  if (!file) {
    if (!path) throw new KeyError(`no signing key: set ${envVar} or give a data directory / key file`, 'missing_key');
    if (!opts.create) throw new KeyError(`no signing key at ${path} (and ${envVar} is unset)`, 'missing_key');
    const fresh = newKeyFile(origin, now());
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Lost the race to another process starting at the same time: use the key it wrote.
    file = writePrivateFile(path, JSON.stringify(fresh, null, 2) + '\n', { replace: false }) ? fresh : readKeyFile(path);
  }
  return makeKeys(origin, decodeSeed(file.current.seed, `${path}: field current.seed`, 'invalid_key_file'), file.current.validFrom, file.retired, path ?? '');
}

/** Public keys only (for export and inspection): never needs or returns the seed. */
export function loadPublicKeys(opts: LoadKeysOptions = {}): { origin: string; keys: PublicKeyInfo[] } {
  const k = loadSigningKeys({ ...opts, create: false });
  return { origin: k.origin, keys: k.publicKeys() };
}

/**
 * Rotate: a fresh current key, the old one retired with validUntil = now. Restart the server right
 * after: a running process keeps signing with the key it loaded, and entries it signs after `now`
 * fall outside that key's published validity.
 */
export function rotateSigningKey(path: string, now: Date = new Date()): KeyFile {
  const old = readKeyFile(path);
  const at = now.toISOString();
  const next = newKeyFile(old.origin, now);
  next.retired = [
    { publicKey: old.current.publicKey, keyId: old.current.keyId, validFrom: old.current.validFrom, validUntil: at },
    ...old.retired,
  ];
  next.current.validFrom = at;
  writePrivateFile(path, JSON.stringify(next, null, 2) + '\n', { replace: true });
  return next;
}
