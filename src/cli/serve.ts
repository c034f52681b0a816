// `ainfera serve [--config PATH] [--host H] [--port N]`: the whole server in one process. The default run
// (`npm start`, no config) uses the embedded SQLite store in ./data, the simulated provider fleet, and a
// demo agent whose key is printed once. SIGINT/SIGTERM shut down gracefully (a second one exits at once).
import { parseArgs } from 'node:util';
import { relative } from 'node:path';
import { ConfigError, loadConfig } from '../config.js';
import { logger } from '../log.js';
import { startAinfera } from '../server/app.js';
import { formatUsd } from '../api/money.js';
import { processIo, type CliIo } from './io.js';

const USAGE = `usage: ainfera serve [--config PATH] [--host HOST] [--port PORT]
  --config PATH  JSON config file (else AINFERA_CONFIG; every field has a default)
  --host HOST    listen address (else HOST, else config listen.host, default 127.0.0.1)
  --port PORT    listen port (else PORT, else config listen.port, default 4000)`;

/** Signals closer together than this are one request to stop (see `stop`). */
const DUPLICATE_SIGNAL_MS = 1000;

export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  let values: { config?: string; host?: string; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    io.stderr.write(`ainfera serve: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let config;
  try {
    config = loadConfig({ ...(values.config ? { path: values.config } : {}), env: io.env });
    if (values.host) config.listen.host = values.host;
    if (values.port !== undefined) {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0..65535, got ${values.port}`, ['--port']);
      config.listen.port = port;
    }
  } catch (err) {
    io.stderr.write(`ainfera serve: ${(err as Error).message}\n`);
    return 2;
  }
  logger.level = io.env.LOG_LEVEL ?? config.log.level;

  let ainfera: Awaited<ReturnType<typeof startAinfera>>;
  try {
    ainfera = await startAinfera(config, { env: io.env });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      const why = code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges this process lacks';
      io.stderr.write(
        `ainfera serve: ${config.listen.host}:${config.listen.port} ${why}; choose another with --port N (or PORT=N), or stop the other server.\n`,
      );
      return 1;
    }
    throw err;
  }
  const { app, url } = ainfera;
  const shown = (p: string) => {
    const rel = relative(process.cwd(), p);
    return rel && !rel.startsWith('..') ? rel : p;
  };

  // The banner is for the person at the terminal and goes to stderr: stdout carries only the JSON log
  // lines, so a log pipeline can ingest them whole.
  if (app.fleet) {
    io.stderr.write(
      `SIMULATED provider fleet on ${app.fleet.url}: no API keys are configured, so every model answer, latency and price is simulated.\n`,
    );
  }
  if (app.demo) {
    if (app.demo.apiKey) {
      io.stderr.write(
        `Demo agent "${app.demo.handle}" created with $${formatUsd(config.demo.creditMicros)} of credit. Its API key (shown this once; saved to ${shown(app.demo.keyFile)}, mode 0600):\n  ${app.demo.apiKey}\n`,
      );
    } else if (app.demo.keyFilePresent) {
      io.stderr.write(`Demo agent "${app.demo.handle}": its API key is in ${shown(app.demo.keyFile)}\n`);
    } else {
      io.stderr.write(`Demo agent "${app.demo.handle}" exists, but its key file ${shown(app.demo.keyFile)} is gone; create a new agent with \`ainfera agents create\`.\n`);
    }
  }
  io.stderr.write(`Ainfera is up: page ${url}/ · GraphQL ${url}/graphql (WebSocket on the same path) · public chain ${url}/v1/audit/public\n`);

  return new Promise<number>((resolveExit) => {
    let stoppingSince = 0;
    const stop = (signal: NodeJS.Signals) => {
      if (stoppingSince) {
        // Ctrl-C under `npm start` reaches this process twice at once (the terminal signals the whole
        // process group and tsx relays it too): only a second signal a moment later means "now".
        if (Date.now() - stoppingSince < DUPLICATE_SIGNAL_MS) return;
        io.stderr.write(`ainfera serve: second ${signal}, exiting now\n`);
        process.exit(130);
      }
      stoppingSince = Date.now();
      logger.info({ signal }, 'shutting down: finishing in-flight calls, flushing the chain');
      ainfera.close().then(
        () => {
          logger.info('stopped');
          resolveExit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolveExit(1);
        },
      );
    };
    // `on`, not `once`: a repeated signal must reach `stop`, never Node's default (instant death
    // with calls in flight and the chain unflushed).
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
