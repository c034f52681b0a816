// The page bundle is built once at server start; esbuild's service child process (~18 MiB resident)
// must not outlive the builds, and builds running at the same time must not stop it under each other.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../src/web/bundle.js';

/** Names of this process's live child processes (Linux /proc). */
function children(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(comm);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** esbuild service children still alive; a stopped one may take a moment to be reaped (bounded wait). */
async function liveEsbuild(): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const left = children().filter((c) => c.includes('esbuild'));
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
  return children().filter((c) => c.includes('esbuild'));
}

describe('the page bundle build', () => {
  it('leaves no esbuild service running after its builds, even when two ran at once', async () => {
    const [a, b] = await Promise.all([buildBrowserBundle({ minify: false }), buildBrowserBundle({ minify: false })]);
    expect(a.entry).toMatch(/^app-.+\.js$/);
    expect(b.files.map((f) => f.name)).toEqual(a.files.map((f) => f.name));
    expect(await liveEsbuild()).toEqual([]);
    // A later build starts a service again and works.
    expect((await buildBrowserBundle({ minify: false })).entry).toBe(a.entry);
    expect(await liveEsbuild()).toEqual([]);
  });
});
