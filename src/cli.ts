// `ainfera <command> [args]`: a small dispatcher; each subcommand lives in src/cli/<name>.ts and is
// registered in src/cli/commands.ts.
import { pathToFileURL } from 'node:url';
import { COMMANDS } from './cli/commands.js';
import { processIo, type CliIo } from './cli/io.js';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: ainfera <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "ainfera <command> --help" for a command's options.`;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.stderr.write(`ainfera: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const cmd = await entry.load();
  return cmd.run(rest, io);
}

// Run when executed directly (tsx src/cli.ts, bin/ainfera.js), not when imported by tests.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`ainfera: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
