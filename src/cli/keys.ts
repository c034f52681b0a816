// `ainfera keys show|init|rotate [--data-dir D | --key-file F] [--json]`: inspect, create or rotate the
// chain signing keys. Never prints the seed. After `rotate`, restart the server so it signs with the
// new key (the old one stays listed, with its validity range, so old entries keep verifying).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KEY_FILE_NAME, KeyError, loadSigningKeys, rotateSigningKey } from '../chain/keys.js';
import { UsageError, type CliIo } from './io.js';

const USAGE = `usage: ainfera keys <show|init|rotate> [--data-dir DIR | --key-file FILE] [--origin NAME] [--json]
  show     list the public keys (current first) as served by GET /v1/audit/keys
  init     create DIR/${KEY_FILE_NAME} (mode 0600) if missing
  rotate   new current key; the old one is kept as retired with validUntil = now (restart the server after)
  --data-dir defaults to ./data`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { 'data-dir': { type: 'string' }, 'key-file': { type: 'string' }, origin: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const [sub, ...extra] = positionals;
    if (!sub || !['show', 'init', 'rotate'].includes(sub)) throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'a subcommand is required');
    if (extra.length) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);
    const keyFile = v['key-file'] ?? join(v['data-dir'] ?? './data', KEY_FILE_NAME);
    // The file is what these commands manage: ignore an env seed here.
    const load = (create: boolean) => loadSigningKeys({ keyFile, create, env: {}, ...(v.origin ? { origin: v.origin } : {}) });
    if (sub === 'rotate') rotateSigningKey(keyFile);
    const keys = load(sub === 'init');
    const list = keys.publicKeys();
    if (v.json) io.stdout.write(`${JSON.stringify({ origin: keys.origin, keyFile, keys: list })}\n`);
    else {
      io.stdout.write(`origin ${keys.origin}  (${keyFile})\n`);
      for (const k of list) io.stdout.write(`${k.validUntil === null ? 'current' : 'retired'}  keyId=${k.keyId}  ${k.validFrom} .. ${k.validUntil ?? 'now'}\n  publicKey ${k.publicKey}\n  noteKey   ${k.noteKey}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof KeyError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
