// `ainfera export [--data-dir D | --url URL | --config C] [--out FILE]`: the whole chain as JSON lines
// (docs/export-format.md), streamed, to a file or stdout. The verifier accepts the file as is.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { exportLines } from '../chain/export.js';
import { httpSource, openLocalSource, type OpenedSource } from './chain-source.js';
import { UsageError, type CliIo } from './io.js';

const USAGE = `usage: ainfera export [--data-dir DIR | --url SERVER_URL | --config PATH] [--out FILE]
  --data-dir DIR   read the embedded store and signing-key.json in DIR
  --url URL        read a server's public endpoints (no account needed)
  --config PATH    read the configured store (default when neither is given; AINFERA_CONFIG also works)
  --out FILE       write here (default: stdout)`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { 'data-dir': { type: 'string' }, url: { type: 'string' }, config: { type: 'string' }, out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let opened: OpenedSource | undefined;
  try {
    if ([values['data-dir'], values.url, values.config].filter((v) => v !== undefined).length > 1) {
      throw new UsageError('give only one of --data-dir, --url, --config');
    }
    opened = values.url !== undefined ? { source: httpSource(values.url), close: async () => {} } : await openLocalSource({ dataDir: values['data-dir'], config: values.config }, io.env);
    const out = values.out !== undefined ? createWriteStream(values.out) : null;
    if (out) await once(out, 'open');
    const write = async (line: string) => {
      if (!out) {
        io.stdout.write(line);
        return;
      }
      if (!out.write(line)) await once(out, 'drain');
    };
    const gen = exportLines(opened.source);
    let step = await gen.next();
    while (!step.done) {
      await write(`${step.value}\n`);
      step = await gen.next();
    }
    if (out) {
      out.end();
      await once(out, 'finish');
    }
    io.stderr.write(`exported ${step.value.entries} entries and ${step.value.checkpoints} checkpoints${values.out ? ` to ${values.out}` : ''}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await opened?.close();
  }
}
