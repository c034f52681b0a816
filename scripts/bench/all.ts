// `npm run bench`: every benchmark, one after another (never in parallel: they share 2 cores),
// each writing its own bench/results/<name>.json; this prints where the numbers are.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benches = ['chain', 'router', 'quality', 'overhead'];
const only = process.argv.slice(2);
const root = fileURLToPath(new URL('../..', import.meta.url));
let failed = 0;
for (const name of benches) {
  if (only.length && !only.includes(name)) continue;
  const script = `scripts/bench/${name}.ts`;
  if (!existsSync(new URL(`./${name}.ts`, import.meta.url))) {
    console.log(`-- ${name}: ${script} not found, skipped`);
    continue;
  }
  console.log(`\n== bench:${name}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: 'inherit', env: process.env });
  if (run.status !== 0) {
    failed++;
    console.log(`!! bench:${name} exited with ${run.status ?? run.signal}`);
  } else {
    console.log(`-> bench/results/${name}.json`);
  }
}
process.exit(failed ? 1 : 0);
