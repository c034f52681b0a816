// `npm start`: bundles the TypeScript CLI with esbuild (~0.1-0.3 s, every start, so it is never stale)
// and runs the bundle on plain node, instead of compiling each module at run time with tsx. Plain
// JavaScript on purpose: it must run before any TypeScript loader exists.
// Why: tsx's loader and its per-module compiled sources stay resident; the bundled server starts at
// ~128 MiB RSS instead of ~178 and uses less CPU per call (measured with scripts/bench/overhead.ts).
// `tsx src/cli.ts serve` and `npx ainfera` keep working unchanged; if bundling fails for any reason
// this falls back to tsx, so start never breaks because of the bundle.
//
// The bundle is split into ESM chunks (esbuild `splitting`): every dynamic import in the sources stays
// a dynamic import of its own chunk, with that chunk's package imports. A single-file bundle hoists every
// package import to its top, so a default start loaded the MongoDB driver (~15 MiB resident, plus the
// 17 MiB buffer bson allocates) although src/store/index.ts only imports the adapter when configured.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('../cli.ts', import.meta.url));
const distDir = fileURLToPath(new URL('../../dist/', import.meta.url));
const outDir = join(distDir, 'cli');
/** Files of other builds are removed once nobody has written them for this long (see prune). */
const STALE_MS = 60 * 60 * 1000;

/**
 * Bundling moves code into dist/, so a source's `new URL('./file', import.meta.url)` (the catalog's
 * reference prices, the web page's sources) would resolve next to the bundle: each module's
 * import.meta.url is pinned to its own source file instead.
 */
const pinImportMetaUrl = {
  name: 'pin-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      // A replacer function, not a string: a checkout path containing `$&` or `$'` must not be expanded.
      const pinned = JSON.stringify(pathToFileURL(args.path).href);
      const contents = text.includes('import.meta.url') ? text.replaceAll('import.meta.url', () => pinned) : text;
      return { contents, loader: 'ts' };
    });
  },
};

/** Writes a file aside and renames it into place: a reader (another start) never sees it half-written. */
function writeAtomically(path, bytes) {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/**
 * Removes files of other builds (and temp files a crashed start left) that no start has written for
 * STALE_MS. A start rewrites all of its files, so a file that old belongs to code nobody started since;
 * a server that old has long imported the chunks it needs (the lazy ones load while it starts: the
 * store adapter, the web page, the subcommand). Best effort: a failure here never stops a start.
 */
function prune(keep, now) {
  const stale = [
    ...readdirSync(outDir).filter((name) => !keep.has(name)).map((name) => join(outDir, name)),
    // The single-file bundle (and its temp files) an earlier version of this launcher wrote.
    ...readdirSync(distDir).filter((name) => name.startsWith('ainfera-cli.') && name.endsWith('.mjs')).map((name) => join(distDir, name)),
  ];
  for (const path of stale) {
    try {
      if (now - statSync(path).mtimeMs > STALE_MS) unlinkSync(path);
    } catch {
      // gone already (another start pruned it) or not ours to remove
    }
  }
}

async function bundle() {
  const { build } = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: { 'ainfera-cli': entry },
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dependencies stay in node_modules (native better-sqlite3, optional mongodb): only our sources are bundled.
    packages: 'external',
    outdir: outDir,
    // Content-hashed names: a name always means the same bytes, so two starts at once (or a start while
    // an older server runs from here) can write the same file without either seeing other contents.
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    write: false,
    metafile: true,
    plugins: [pinImportMetaUrl],
    logLevel: 'error',
  });
  // Each dynamically imported module is an entry of its own chunk too: find the CLI's.
  const entryOut = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined && join(root, o.entryPoint) === entry)?.[0];
  if (!entryOut) throw new Error('esbuild produced no entry chunk');
  const entryPath = join(root, entryOut);
  // Chunks first, the entry last: when the entry is in place, everything it imports is.
  const files = [...result.outputFiles].sort((a, b) => Number(a.path === entryPath) - Number(b.path === entryPath));
  for (const f of files) writeAtomically(f.path, f.contents);
  prune(new Set(files.map((f) => basename(f.path))), Date.now());
  return entryPath;
}

/**
 * How far V8 lets the old generation grow past what survived the last full GC, in percent. V8's own
 * factor rises to 300% while the program allocates fast, i.e. under load: a routed call allocates a few
 * hundred KiB, much of it promoted while up to 64 calls are in flight, so a saturated server with ~40 MiB
 * live reached ~250 MiB RSS. At 50% the peak of the same runs was ~175-190 MiB at the same CPU per call
 * (20% cost ~15% more CPU). The flag is read at each heap limit computation, so setting it here, before the
 * server loads, takes effect; a --heap-growing-percent given to node wins.
 */
const HEAP_GROWING_PERCENT = 50;
if (process.argv[2] === 'serve' && !process.execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

let cli;
try {
  cli = await import(pathToFileURL(await bundle()).href);
} catch (err) {
  process.stderr.write(`ainfera: could not bundle the server (${err instanceof Error ? err.message : String(err)}); running it with tsx\n`);
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(pathToFileURL(entry).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
