// Child processes of a benchmark: the instant upstream and the Ainfera server each get their own
// process (own event loop, own RSS and CPU), started and stopped by the benchmark and never left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The server entry `npm start` uses in `root`: the bundling launcher where it exists, else the bin. */
function serverEntry(root: string): string {
  return existsSync(join(root, 'src/server/start.mjs')) ? 'src/server/start.mjs' : 'bin/ainfera.js';
}

/** Waits for a child to exit, SIGKILLing it after `graceMs`. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals | null, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    if (signal) child.kill(signal);
  });
}

const live = new Set<ChildProcess>();
// Whatever happens to the benchmark, its children do not outlive it.
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export interface UpstreamChild {
  readonly pid: number;
  readonly baseUrl: string;
  readonly origin: string;
  served(): Promise<number>;
  stop(): Promise<void>;
}

export async function startUpstreamChild(): Promise<UpstreamChild> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./upstream-main.ts', import.meta.url))], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' },
    }),
  );
  const ready = await new Promise<{ baseUrl: string; port: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`upstream child exited (${code}) before it was ready`)));
    child.on('message', (m: { type?: string; baseUrl?: string; port?: number }) => {
      if (m.type === 'ready') resolve({ baseUrl: m.baseUrl!, port: m.port! });
    });
  });
  return {
    pid: child.pid!,
    baseUrl: ready.baseUrl,
    origin: `http://127.0.0.1:${ready.port}`,
    served: () =>
      new Promise<number>((resolve) => {
        const on = (m: { type?: string; n?: number }) => {
          if (m.type !== 'served') return;
          child.off('message', on);
          resolve(m.n ?? Number.NaN);
        };
        child.on('message', on);
        child.send({ type: 'served' });
      }),
    async stop() {
      if (child.connected) child.send({ type: 'stop' });
      await stopChild(child, null, 5_000);
    },
  };
}

export interface ServerChild {
  readonly pid: number;
  readonly url: string;
  /** The inspector's WebSocket URL when started with --inspect (for a windowed CPU profile). */
  inspectorUrl(): Promise<string>;
  /** Graceful stop (SIGTERM: finish calls, flush the chain); SIGKILL after `graceMs`. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface ServerChildOptions {
  configFile: string;
  env: Record<string, string>;
  /** Appends the server's stdout/stderr (its logs) here. */
  logFile: string;
  /** Project tree to run the server from (default: this one; another checkout to compare a change). */
  root?: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

/** `ainfera serve --config FILE` exactly as an operator runs it (bin/ainfera.js), in a child process. */
export async function startServerChild(opts: ServerChildOptions): Promise<ServerChild> {
  const log: WriteStream = createWriteStream(opts.logFile, { flags: 'a' });
  const child = track(
    // As `npm start` runs it (the bundled server on plain node); a tree from before that existed runs its bin.
    spawn(process.execPath, [...(opts.nodeArgs ?? []), serverEntry(opts.root ?? ROOT), 'serve', '--config', opts.configFile], {
      cwd: opts.root ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    }),
  );
  child.stderr!.pipe(log, { end: false });
  // `--inspect=127.0.0.1:0` says where it listens on stderr.
  const inspector = new Promise<string>((resolve) => {
    let seen = '';
    const onErr = (b: Buffer): void => {
      seen += b.toString('utf8');
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(seen);
      if (m) {
        child.stderr!.off('data', onErr);
        resolve(m[1]!);
      } else if (seen.length > 64 * 1024) {
        child.stderr!.off('data', onErr);
      }
    };
    child.stderr!.on('data', onErr);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`server not up after ${opts.startTimeoutMs ?? 60_000} ms; see ${opts.logFile}`)), opts.startTimeoutMs ?? 60_000);
    const scan = (b: Buffer): void => {
      if (seen.length < 64 * 1024) seen += b.toString('utf8');
      const m = /Ainfera is up: page (http:\/\/\S+?)\/ /.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', scan);
        resolve(m[1]!);
      }
    };
    const onData = (b: Buffer): void => {
      log.write(b);
      scan(b);
    };
    // The banner is on stderr (already piped to the log); older trees, run via BENCH_SERVER_ROOT, print
    // it on stdout: scan both.
    child.stdout!.on('data', onData);
    child.stderr!.on('data', scan);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was up; see ${opts.logFile}`));
    });
  });
  // Keep draining its output into the log (a full pipe would block the server).
  child.stdout!.removeAllListeners('data');
  child.stdout!.pipe(log, { end: false });
  return {
    pid: child.pid!,
    url,
    inspectorUrl: () => inspector,
    async stop(graceMs = 30_000) {
      const code = await stopChild(child, 'SIGTERM', graceMs);
      log.end();
      return code;
    },
  };
}
