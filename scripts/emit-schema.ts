// Writes schema.graphql from the Pothos schema, or with --check exits non-zero when the committed file
// is stale (CI). `--file <path>` points at another file (tests).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printSdl } from '../src/api/schema/index.js';

const args = process.argv.slice(2);
const check = args.includes('--check');
const fileIdx = args.indexOf('--file');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const file = fileIdx >= 0 && args[fileIdx + 1] ? resolve(args[fileIdx + 1]!) : resolve(root, 'schema.graphql');

const sdl = printSdl();
if (check) {
  let current: string | null = null;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = null;
  }
  if (current !== sdl) {
    console.error(
      current === null
        ? `${file} is missing: run \`npm run schema:emit\` and commit it.`
        : `${file} is stale: it differs from the schema the code builds. Run \`npm run schema:emit\` and commit it.`,
    );
    process.exit(1);
  }
  console.log(`${file} is up to date.`);
} else {
  writeFileSync(file, sdl);
  console.log(`wrote ${file}`);
}
