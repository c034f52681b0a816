// The public, keyless audit endpoints (shared/DESIGN.md "Public endpoints", a contract) on node:http.
// createAuditHandler() returns `(req, res) => boolean`: false when the path is not one of ours, so the
// server can mount it beside GraphQL. Read-only: no request can change anything.
//
//   GET /v1/audit/public?from=SEQ&limit=N      {"entries":[envelope…],"next":SEQ|null}
//   GET /v1/audit/public/SEQ[?size=N]           envelope + "proof" + "checkpoint" (signed note text)
//   GET /v1/audit/checkpoint[?size=N]           latest (or the one of that size) signed note, text/plain
//   GET /v1/audit/checkpoints?from=I&limit=N    {"checkpoints":[{index,size,rootHash,time,note}…],"next":I|null}
//                                               (additive: lets verifiers walk every checkpoint)
//   GET /v1/audit/consistency?from=N&to=M       {"from","to","hashes":["0x…"]}
//   GET /v1/audit/keys                          {"keys":[PublicKeyInfo…]}
//
// Envelopes are built from the stored canonical string (JSON.parse; never rebuilt from columns). Bad
// input is a 400 with {"error":{"code","message"}} naming the parameter; an unknown seq is a 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChainStore, StoredCheckpoint } from '../store/port.js';
import type { PublicKeyInfo } from '../chain/types.js';
import type { ProofService } from '../chain/proofs.js';
import { envelopeOf } from '../chain/export.js';
import { logger } from '../log.js';

export const AUDIT_PREFIX = '/v1/audit/';
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export interface AuditRoutesOptions {
  chain: ChainStore;
  proofs: ProofService;
  /** Current and retired public keys (GET /v1/audit/keys). */
  publicKeys: () => PublicKeyInfo[];
  /** Largest `limit` accepted (default 1000). */
  maxPage?: number;
}

export type AuditHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const LIVE = 'no-cache';

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, type: string, cache: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(bytes.length),
    'cache-control': cache,
    'access-control-allow-origin': '*',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, cache: string, extra?: Record<string, string>): void {
  send(req, res, status, JSON.stringify(value), 'application/json; charset=utf-8', cache, extra);
}

function sendError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, extra?: Record<string, string>): void {
  sendJson(req, res, status, { error: { code, message } }, 'no-store', extra);
}

/** Strict query parsing: only the named parameters, each at most once. */
function query(url: URL, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of url.searchParams) {
    if (!allowed.includes(k)) {
      throw new BadRequest(400, 'unknown_parameter', allowed.length ? `unknown query parameter "${k}" (allowed: ${allowed.join(', ')})` : `unknown query parameter "${k}" (this endpoint takes none)`);
    }
    if (out.has(k)) throw new BadRequest(400, 'invalid_parameter', `query parameter "${k}" is given more than once`);
    out.set(k, v);
  }
  return out;
}

/** A non-negative safe integer written in plain decimal digits, or a 400 naming the parameter. */
function nonNegInt(raw: string, name: string): number {
  if (!/^[0-9]{1,16}$/.test(raw)) throw new BadRequest(400, 'invalid_parameter', `${name} must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 40))}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new BadRequest(400, 'invalid_parameter', `${name} is too large`);
  return n;
}

function optInt(q: Map<string, string>, name: string, dflt: number): number {
  const raw = q.get(name);
  return raw === undefined ? dflt : nonNegInt(raw, name);
}

function reqInt(q: Map<string, string>, name: string): number {
  const raw = q.get(name);
  if (raw === undefined) throw new BadRequest(400, 'missing_parameter', `query parameter "${name}" is required`);
  return nonNegInt(raw, name);
}

function limitParam(q: Map<string, string>, max: number): number {
  const limit = optInt(q, 'limit', Math.min(DEFAULT_PAGE, max));
  if (limit < 1) throw new BadRequest(400, 'invalid_parameter', 'limit must be at least 1');
  if (limit > max) throw new BadRequest(400, 'limit_too_large', `limit must be at most ${max}`);
  return limit;
}

export function createAuditHandler(opts: AuditRoutesOptions): AuditHandler {
  const { chain, proofs } = opts;
  const maxPage = opts.maxPage ?? MAX_PAGE;

  async function checkpointOfSize(size: number, param: string): Promise<StoredCheckpoint> {
    const cp = await chain.checkpointBySize(size);
    if (!cp) throw new BadRequest(400, 'unknown_checkpoint', `${param}=${size} is not the size of a signed checkpoint`);
    return cp;
  }

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL, tail: string) => Promise<void>> = {
    async public(req, res, url, tail) {
      if (tail !== '') {
        const q = query(url, ['size']);
        const seq = nonNegInt(decodeURIComponent(tail), 'seq');
        const sizeRaw = q.get('size');
        const given = sizeRaw === undefined ? null : await checkpointOfSize(nonNegInt(sizeRaw, 'size'), 'size');
        if (given && given.size <= seq) throw new BadRequest(400, 'invalid_parameter', `checkpoint size ${given.size} does not cover seq ${seq}`);
        const stored = await chain.entry(seq);
        if (!stored) return sendError(req, res, 404, 'not_found', `no entry with seq ${seq} yet`);
        const cp = given ?? (await chain.latestCheckpoint());
        const env = envelopeOf(stored);
        if (!cp || cp.size <= seq) {
          // Appended but not yet under a signed checkpoint (one is cut within a second): retry shortly.
          return sendJson(req, res, 200, { ...env, proof: null, checkpoint: null }, 'no-store', { 'retry-after': '1' });
        }
        const proof = await proofs.inclusion(seq, cp.size);
        return sendJson(req, res, 200, { ...env, proof, checkpoint: cp.note, checkpointIndex: cp.index }, given ? IMMUTABLE : LIVE);
      }
      const q = query(url, ['from', 'limit']);
      const from = optInt(q, 'from', 0);
      const limit = limitParam(q, maxPage);
      // One extra row tells whether a next page exists without another query.
      const rows = await chain.entries(from, limit + 1);
      const more = rows.length > limit;
      const entries = rows.slice(0, limit).map(envelopeOf);
      // A full page never changes; the tail page grows.
      return sendJson(req, res, 200, { entries, next: more ? from + limit : null }, more ? IMMUTABLE : LIVE);
    },

    async checkpoint(req, res, url, tail) {
      if (tail !== '') return sendError(req, res, 404, 'not_found', `no such endpoint ${url.pathname}`);
      const q = query(url, ['size']);
      const sizeRaw = q.get('size');
      const cp = sizeRaw === undefined ? await chain.latestCheckpoint() : await checkpointOfSize(nonNegInt(sizeRaw, 'size'), 'size');
      if (!cp) return sendError(req, res, 404, 'no_checkpoint', 'no checkpoint has been signed yet');
      send(req, res, 200, cp.note, 'text/plain; charset=utf-8', sizeRaw === undefined ? LIVE : IMMUTABLE, { 'x-checkpoint-index': String(cp.index) });
    },

    async checkpoints(req, res, url, tail) {
      if (tail !== '') return sendError(req, res, 404, 'not_found', `no such endpoint ${url.pathname}`);
      const q = query(url, ['from', 'limit']);
      const from = optInt(q, 'from', 0);
      const limit = limitParam(q, maxPage);
      const rows = await chain.checkpoints(from, limit + 1);
      const more = rows.length > limit;
      const checkpoints = rows.slice(0, limit).map((c) => ({ index: c.index, size: c.size, rootHash: c.rootHash, time: c.time, note: c.note }));
      return sendJson(req, res, 200, { checkpoints, next: more ? from + limit : null }, more ? IMMUTABLE : LIVE);
    },

    async consistency(req, res, url, tail) {
      if (tail !== '') return sendError(req, res, 404, 'not_found', `no such endpoint ${url.pathname}`);
      const q = query(url, ['from', 'to']);
      const from = reqInt(q, 'from');
      const to = reqInt(q, 'to');
      if (from > to) throw new BadRequest(400, 'invalid_range', `from (${from}) must not be larger than to (${to})`);
      if (from < 1) throw new BadRequest(400, 'invalid_parameter', 'from must be at least 1 (the size of a non-empty checkpoint)');
      await checkpointOfSize(from, 'from');
      await checkpointOfSize(to, 'to');
      return sendJson(req, res, 200, await proofs.consistency(from, to), IMMUTABLE);
    },

    async keys(req, res, url, tail) {
      if (tail !== '') return sendError(req, res, 404, 'not_found', `no such endpoint ${url.pathname}`);
      query(url, []);
      return sendJson(req, res, 200, { keys: opts.publicKeys() }, 'public, max-age=60');
    },
  };

  return (req, res) => {
    const rawUrl = req.url ?? '/';
    if (!rawUrl.startsWith(AUDIT_PREFIX)) return false;
    let url: URL;
    try {
      url = new URL(rawUrl, 'http://localhost');
    } catch {
      return false;
    }
    const rest = url.pathname.slice(AUDIT_PREFIX.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    const tail = slash < 0 ? '' : rest.slice(slash + 1);
    const route = Object.hasOwn(routes, name) ? routes[name] : undefined;
    if (!route) return false;

    if (req.method === 'OPTIONS') {
      res.writeHead(204, { allow: 'GET, HEAD, OPTIONS', 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'access-control-max-age': '86400' });
      res.end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(req, res, 405, 'method_not_allowed', `${req.method ?? '?'} is not allowed: these endpoints are read-only`, { allow: 'GET, HEAD, OPTIONS' });
      return true;
    }
    route(req, res, url, tail).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BadRequest) return sendError(req, res, err.status, err.code, err.message);
      if (err instanceof URIError) return sendError(req, res, 400, 'invalid_parameter', 'malformed percent-encoding in the path');
      logger.error({ err, path: url.pathname }, 'audit endpoint failed');
      sendError(req, res, 500, 'internal', 'internal error');
    });
    return true;
  };
}
