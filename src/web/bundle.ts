// Builds the page's browser bundle in memory with esbuild, at server start: users never run a build step.
// The entry (client/main.ts) imports the verifier straight from src/chain, so the browser runs the very
// same pure modules as the CLI. platform 'browser' makes any Node-only import in that graph a build
// error, which is how the "pure verifier" rule is enforced rather than merely promised.
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';

export interface BuiltFile {
  /** Path relative to the served /web/ prefix, e.g. `app-3F2A1B9C.js`. */
  name: string;
  bytes: Uint8Array;
}

export interface BrowserBundle {
  /** The hashed file name of the app entry, for index.html. */
  entry: string;
  files: BuiltFile[];
}

export interface BundleOptions {
  /** Entry module (default: client/main.ts beside this file). */
  entry?: string;
  minify?: boolean;
}

const DEFAULT_ENTRY = fileURLToPath(new URL('./client/main.ts', import.meta.url));

/** Builds in flight in this process: esbuild's service is stopped when the last one ends. */
let building = 0;

export async function buildBrowserBundle(opts: BundleOptions = {}): Promise<BrowserBundle> {
  building++;
  try {
    return await buildOnce(opts);
  } finally {
    // esbuild keeps a service child process (~18 MiB resident) alive for later builds; a server builds
    // once at start, so stop it (a later build starts a new one).
    if (--building === 0) await stop();
  }
}

async function buildOnce(opts: BundleOptions): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: { app: opts.entry ?? DEFAULT_ENTRY },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // Debian's Chromium and every current browser; es2022 keeps bigint and class fields native.
    target: 'es2022',
    minify: opts.minify ?? true,
    sourcemap: 'linked',
    sourcesContent: true,
    // Content-hashed names let the bundle be cached forever; index.html (no-cache) names the current one.
    entryNames: '[name]-[hash]',
    outdir: '/web',
    metafile: true,
    logLevel: 'silent',
    legalComments: 'eof',
    // The page loads nothing from the network but its own origin: no CDN, no dynamic imports elsewhere.
    splitting: false,
  });
  const files: BuiltFile[] = result.outputFiles.map((f) => ({ name: f.path.replace(/^.*[/\\]web[/\\]/, ''), bytes: f.contents }));
  const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)?.[0];
  if (!entry) throw new Error('esbuild produced no entry output');
  return { entry: entry.replace(/^.*[/\\]?web[/\\]/, ''), files };
}
