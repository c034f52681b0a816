// The subcommand registry: one line per subcommand, one module per subcommand under src/cli/.
// Modules load lazily, so `ainfera verify` never pays for the server's imports. To add one:
//   name: { summary: '…', load: () => import('./name.js') },   where name.ts exports run(argv, io).
import type { CliCommand } from './io.js';

export interface CommandEntry {
  summary: string;
  load: () => Promise<CliCommand>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  serve: { summary: 'start the server: GraphQL + WebSocket, OpenAI-compatible endpoint, public chain, trace page', load: () => import('./serve.js') },
  verify: { summary: 'verify a chain from a server URL or an export file (every entry, signature, checkpoint)', load: () => import('./verify.js') },
  export: { summary: 'write the chain (keys, entries, checkpoints) to a JSON-lines file the verifier accepts', load: () => import('./export.js') },
  keys: { summary: 'show or rotate the chain signing keys of a data directory', load: () => import('./keys.js') },
  agents: { summary: 'create agents, credit them, set their policy, list them (admin)', load: () => import('./agents.js') },
};
