// The verifier runs in the browser: everything verify.ts reaches must be free of Node-only APIs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/chain/', import.meta.url);

function localImports(file: string): string[] {
  const src = readFileSync(new URL(file, dir), 'utf8');
  return [...src.matchAll(/from '\.\/([a-z-]+)\.js'/g)].map((m) => `${m[1]!}.ts`);
}

describe('pure chain modules', () => {
  it('verify.ts and everything it imports use no node:*, Buffer or process', () => {
    const seen = new Set<string>();
    const todo = ['verify.ts', 'sign.ts', 'entry.ts'];
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...localImports(f));
    }
    expect([...seen].sort()).toEqual(
      ['canonical.ts', 'checkpoint.ts', 'crypto.ts', 'encoding.ts', 'entry.ts', 'hash.ts', 'merkle.ts', 'sign.ts', 'types.ts', 'verify.ts'].sort(),
    );
    for (const f of seen) {
      const code = readFileSync(new URL(f, dir), 'utf8')
        .split('\n')
        .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l))
        .join('\n');
      expect(code, f).not.toMatch(/from 'node:|require\(|\bBuffer\b|\bprocess\./);
      for (const m of code.matchAll(/from '([^.][^']*)'/g)) {
        expect(['canonicalize', '@noble/ed25519', '@noble/hashes/sha2.js'], `${f} imports ${m[1]!}`).toContain(m[1]);
      }
    }
  });
});
