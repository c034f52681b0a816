// What every subcommand gets: where to write, and the environment. Tests pass in-memory writers.
export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** A subcommand module: `run(argv after the subcommand name, io)` resolves to the exit code. */
export interface CliCommand {
  run(argv: string[], io: CliIo): Promise<number>;
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** A usage mistake: exit code 2 with the subcommand's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
