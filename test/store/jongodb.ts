// Starts the npm-installed MongoDB-wire look-alike (@jongodb/memory-server-bin-linux-x64-gnu) when it is
// present, so the MongoDB adapter's driver path runs in CI without a MongoDB server. It is not MongoDB
// (see docs/storage.md for exactly what it does and does not do): a pass here is a smoke test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

export function jongodbBinary(): string | null {
  try {
    const pkg = require.resolve('@jongodb/memory-server-bin-linux-x64-gnu/package.json');
    const bin = path.join(path.dirname(pkg), 'bin', 'jongodb');
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return null;
  }
}

export interface RunningJongodb {
  uri: string;
  stop(): Promise<void>;
}

/** Spawns the binary on 127.0.0.1, an ephemeral port, as a single-node replica set; resolves with its URI. */
export async function startJongodb(bin: string, timeoutMs = 20_000): Promise<RunningJongodb> {
  const child: ChildProcess = spawn(bin, ['--host=127.0.0.1', '--port=0', '--replica-set-name=rs0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const uri = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jongodb printed no JONGODB_URI within ${timeoutMs} ms: ${output}`)), timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /JONGODB_URI=(\S+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jongodb exited with ${code}: ${output}`));
    });
  });
  return {
    uri,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
