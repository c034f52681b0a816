// The page's static handler over real HTTP: content types, caching (hashed = immutable, index = ETag
// revalidation), gzip, methods, and no way out of the in-memory file set.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebAssets, type WebAssetsHandler } from '../../src/web/assets.js';

let server: Server;
let base: string;
let handler: WebAssetsHandler;

beforeAll(async () => {
  handler = createWebAssets();
  await handler.ready;
  server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(418, { 'content-type': 'text/plain' });
        res.end('not the page');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** Send a raw request line (fetch would normalize `..` away before it reaches the server). */
function rawGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    const sock = connect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

async function indexHtml(): Promise<string> {
  return (await fetch(`${base}/`)).text();
}

function assetPaths(html: string): { js: string; css: string } {
  const js = /src="(\/web\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
  const css = /href="(\/web\/styles-[A-Z0-9]+\.css)"/.exec(html)?.[1];
  if (!js || !css) throw new Error('index.html does not reference hashed assets');
  return { js, css };
}

describe('createWebAssets', () => {
  it('serves index.html at / with a CSP, revalidation and hashed asset names', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toMatch(/^"[\w-]+"$/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<table');
    const { js, css } = assetPaths(html);
    expect(js).not.toBe('/web/app.js');
    expect(css).not.toBe('/web/styles.css');
    expect((await fetch(`${base}/index.html`)).status).toBe(200);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await fetch(`${base}/`);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('serves the bundle and stylesheet with their types, immutable, gzipped on request', async () => {
    const { js, css } = assetPaths(await indexHtml());
    const jsRes = await fetch(`${base}${js}`);
    expect(jsRes.status).toBe(200);
    expect(jsRes.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(jsRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(jsRes.headers.get('x-content-type-options')).toBe('nosniff');
    const code = await jsRes.text();
    // The bundle carries the shared verifier (its signing domain string) and the graphql-ws protocol.
    expect(code).toContain('ainfera/entry/v1');
    expect(code).toContain('graphql-transport-ws');
    expect(code).not.toMatch(/from\s*["']node:/);

    const cssRes = await fetch(`${base}${css}`);
    expect(cssRes.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(cssRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    const icon = await fetch(`${base}/web/favicon.svg`);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(icon.headers.get('cache-control')).toBe('no-cache');

    const map = await fetch(`${base}${js}.map`);
    expect(map.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(((await map.json()) as { sources: string[] }).sources.some((s) => s.includes('chain/merkle.ts'))).toBe(true);

    // undici's fetch decodes gzip itself; ask for it over a raw request to see the encoding.
    const raw = await rawGzip(js);
    expect(raw.encoding).toBe('gzip');
    expect(gunzipSync(raw.body).toString('utf8')).toBe(code);
  });

  it('supports HEAD without a body', async () => {
    const res = await fetch(`${base}/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(100);
    expect(await res.text()).toBe('');
  });

  it('refuses other methods on its paths with 405 and Allow', async () => {
    const res = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('returns false for paths that are not the page, so the server can route them', async () => {
    for (const p of ['/graphql', '/v1/audit/keys', '/health', '/webx', '/favicon.ico']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(418);
      await res.arrayBuffer();
    }
  });

  it('never leaves its in-memory file set (traversal, encodings, unknown names)', async () => {
    for (const p of [
      '/web/../package.json',
      '/web/..%2fpackage.json',
      '/web/%2e%2e/%2e%2e/package.json',
      '/web/..\\..\\package.json',
      '/web//etc/passwd',
      '/web/assets.ts',
      '/web/client/main.ts',
      '/web/',
      '/web/index.html',
      '/web/.hidden',
    ]) {
      const raw = await rawGet(p);
      expect(raw.slice(0, 12), p).toBe('HTTP/1.1 404');
      expect(raw).not.toContain('"name": "ainfera"');
      expect(raw).not.toContain('root:');
    }
  });
});

function rawGzip(path: string): Promise<{ encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    const sock = connect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      const all = Buffer.concat(chunks);
      const sep = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, sep).toString('latin1');
      const encoding = /\r\ncontent-encoding: (\S+)/i.exec(head)?.[1];
      resolve({ encoding, body: all.subarray(sep + 4) });
    });
    sock.on('error', reject);
  });
}
