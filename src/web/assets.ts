// Serves the live trace page: `/` (index.html) and its files under `/web/`, as a node:http handler the
// server mounts beside GraphQL and the audit routes. Returns false for any path that is not ours.
//
// Everything is loaded into memory once, at creation: the static files from ./public and the browser
// bundle built by esbuild (bundle.ts). A request is a Map lookup, never a filesystem path, so there is
// no directory traversal to get wrong. Hashed names (`app-<hash>.js`, `styles-<hash>.css`) are cached
// forever; index.html and the unhashed aliases revalidate with an ETag.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { logger } from '../log.js';
import { buildBrowserBundle, type BundleOptions } from './bundle.js';

export const WEB_PREFIX = '/web/';

export interface WebAssetsOptions {
  /** Directory of the static files (default: ./public beside this module). */
  publicDir?: string;
  /** Passed to the esbuild bundle (entry, minify). */
  bundle?: BundleOptions;
}

export type WebAssetsHandler = ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) & {
  /** Settles when the bundle is built; rejects if it cannot be (the server may await it to fail fast). */
  readonly ready: Promise<void>;
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

// The page talks only to its own origin (REST, POST /graphql, ws://same-host/graphql). CSP Level 3
// 'self' covers ws:/wss: to the same host in Chromium and Firefox. No inline script or style.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
  cache: string;
}

function makeAsset(name: string, body: Buffer, cache: string): Asset {
  const type = CONTENT_TYPES[extname(name)] ?? 'application/octet-stream';
  const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 1024;
  const gz = compressible ? gzipSync(body, { level: 9 }) : null;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { type, body, gzip: gz && gz.length < body.length ? gz : null, etag, cache };
}

function shortHash(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 10).toUpperCase();
}

/** Load ./public and the bundle, returning url path → asset. */
async function loadAssets(opts: WebAssetsOptions): Promise<Map<string, Asset>> {
  const dir = opts.publicDir ?? fileURLToPath(new URL('./public/', import.meta.url));
  const assets = new Map<string, Asset>();
  // Logical name (as written in index.html) → hashed URL.
  const rename = new Map<string, string>();
  let indexHtml: string | null = null;

  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (!ent.isFile() || ent.name.startsWith('.')) continue;
    const body = readFileSync(join(dir, ent.name));
    if (ent.name === 'index.html') {
      indexHtml = body.toString('utf8');
      continue;
    }
    const ext = extname(ent.name);
    const hashed = `${ent.name.slice(0, -ext.length || undefined)}-${shortHash(body)}${ext}`;
    assets.set(WEB_PREFIX + ent.name, makeAsset(ent.name, body, REVALIDATE));
    assets.set(WEB_PREFIX + hashed, makeAsset(hashed, body, IMMUTABLE));
    rename.set(WEB_PREFIX + ent.name, WEB_PREFIX + hashed);
  }
  if (indexHtml === null) throw new Error(`web assets: no index.html in ${dir}`);

  const bundle = await buildBrowserBundle(opts.bundle);
  for (const f of bundle.files) {
    const body = Buffer.from(f.bytes);
    assets.set(WEB_PREFIX + f.name, makeAsset(f.name, body, IMMUTABLE));
  }
  rename.set(`${WEB_PREFIX}app.js`, WEB_PREFIX + bundle.entry);

  for (const [logical, hashed] of rename) indexHtml = indexHtml.split(`"${logical}"`).join(`"${hashed}"`);
  const index = makeAsset('index.html', Buffer.from(indexHtml, 'utf8'), REVALIDATE);
  assets.set('/', index);
  assets.set('/index.html', index);
  return assets;
}

function acceptsGzip(req: IncomingMessage): boolean {
  const ae = req.headers['accept-encoding'];
  return typeof ae === 'string' && /\bgzip\b(?!;q=0(\.0*)?\b)/.test(ae);
}

function etagMatches(req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match'];
  if (typeof inm !== 'string') return false;
  return inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function sendPlain(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  const headers: Record<string, string> = {
    'content-type': a.type,
    'cache-control': a.cache,
    etag: a.etag,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (a.type.startsWith('text/html')) headers['content-security-policy'] = CSP;
  if (a.gzip) headers.vary = 'Accept-Encoding';
  if (etagMatches(req, a.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gz = a.gzip !== null && acceptsGzip(req);
  const body = gz ? a.gzip! : a.body;
  if (gz) headers['content-encoding'] = 'gzip';
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The page's handler. Starts loading and bundling at once (server start); requests wait for it.
 * Resolves true when it answered the request, false when the path is not the page's (`/`, `/index.html`, `/web/*`).
 */
export function createWebAssets(opts: WebAssetsOptions = {}): WebAssetsHandler {
  const loading = loadAssets(opts);
  // Keep an unobserved rejection from crashing the process; requests report it as a 500.
  loading.catch((err: unknown) => logger.error({ err }, 'web page bundle failed to build'));

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const rawPath = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const ours = rawPath === '/' || rawPath === '/index.html' || rawPath.startsWith(WEB_PREFIX);
    if (!ours) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendPlain(req, res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return true;
    }
    let assets: Map<string, Asset>;
    try {
      assets = await loading;
    } catch {
      sendPlain(req, res, 500, 'the web page failed to build; see the server log\n');
      return true;
    }
    // Exact lookup of the raw path: `..`, `%2e%2e`, backslashes or doubled slashes simply match nothing.
    const asset = assets.get(rawPath);
    if (!asset) sendPlain(req, res, 404, 'not found\n');
    else sendAsset(req, res, asset);
    return true;
  };
  return Object.assign(handler, { ready: loading.then(() => undefined) });
}
