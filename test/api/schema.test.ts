// schema.graphql is generated from the Pothos schema and committed; `npm run schema:check` fails when it
// is stale. Also pins a few promises the SDL makes to clients.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printSdl } from '../../src/api/schema/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'ainfera-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function emit(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/emit-schema.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('schema.graphql', () => {
  it('the committed file matches the code', () => {
    expect(readFileSync(join(ROOT, 'schema.graphql'), 'utf8')).toBe(printSdl());
  });

  it('schema:check exits non-zero on a stale file and zero on a fresh one', () => {
    const file = join(dir, 'schema.graphql');
    writeFileSync(file, printSdl().replace('type Query {', 'type Query {\n  removedField: String'));
    const stale = emit('--check', '--file', file);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/stale/);
    const written = emit('--file', file);
    expect(written.status).toBe(0);
    const fresh = emit('--check', '--file', file);
    expect(fresh.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(printSdl());
  });

  it('states guarantees: non-null by default, money as SafeInt micros plus exact USD strings, typed route results', () => {
    const sdl = printSdl();
    expect(sdl).toContain('union RouteResult = AllAttemptsFailed | InsufficientCredit | NoEligibleModel | RouteSuccess | ValidationError');
    expect(sdl).toMatch(/type Money \{[^}]*micros: SafeInt![^}]*usd: String!/s);
    expect(sdl).toMatch(/chainEvents\([^)]*agent: String[^)]*fromSeq: SafeInt[^)]*kinds: \[String!\][^)]*\): ChainEvent!/s);
    expect(sdl).toMatch(/decisions\(after: String, before: String, filter: DecisionFilter, first: Int, last: Int\): DecisionConnection!/);
    expect(sdl).not.toMatch(/\bFloat\b[^\n]*[Cc]ost|cost[^\n]*: Float/);
  });
});
