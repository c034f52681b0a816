// `npm start`: bundles the TypeScript CLI with esbuild (~0.1-0.3 s, every start, so it is never stale)
// and runs the bundle on plain node, instead of compiling each module at run time with tsx. Plain
// JavaScript on purpose: it must run before any TypeScript loader exists.
// Why: tsx's loader and its per-module compiled sources stay resident; the bundled server starts at
// ~128 MiB RSS instead of ~178 and uses less CPU per call (measured with scripts/bench/overhead.ts).
// `tsx src/cli.ts serve` and `npx ainfera` keep working unchanged; if bundling fails for any reason
// this falls back to tsx, so start never breaks because of the bundle.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('../cli.ts', import.meta.url));
const outDir = fileURLToPath(new URL('../../dist/', import.meta.url));
const out = `${outDir}ainfera-cli.mjs`;

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

async function bundle() {
  const { build } = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  // Written aside and renamed: two starts at once never import a half-written file.
  const tmp = `${outDir}ainfera-cli.${process.pid}.${randomBytes(4).toString('hex')}.mjs`;
  await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dependencies stay in node_modules (native better-sqlite3, optional mongodb): only our sources are bundled.
    packages: 'external',
    outfile: tmp,
    plugins: [pinImportMetaUrl],
    logLevel: 'error',
  });
  renameSync(tmp, out);
  return out;
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
