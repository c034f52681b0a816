// Child process for the crash and multi-process tests: appends as fast as it can to the chain in
// argv[2] and prints every ACKNOWLEDGED seq on stdout (one per line) only after its append resolved.
// argv[3]: how many to append (0 = forever, until killed). argv[4]: tag for the agent field.
import { ChainAppender } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import { openStore } from '../../src/store/index.js';
import { event } from './appender.helpers.js';

const [, , dataDir, countArg = '0', tag = 'p'] = process.argv;
const total = Number(countArg);
const store = await openStore({ kind: 'embedded', dataDir: dataDir! });
const keys = loadSigningKeys({ dataDir: dataDir!, create: true, env: {}, origin: 'test.ainfera/chain' });
const appender = await ChainAppender.open({ chain: store.chain, keys, checkpointIntervalMs: 50 });

let out: string[] = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join(''));
  out = [];
};
const timer = setInterval(flush, 5);

const IN_FLIGHT = 2000;
let issued = 0;
let done = 0;
await new Promise<void>((resolve, reject) => {
  const issue = () => {
    while (issued - done < IN_FLIGHT && (total === 0 || issued < total)) {
      const i = issued++;
      appender.append({ ...event(i), agent: `${tag}-${i % 7}` }).then((env) => {
        out.push(`${env.seq}\n`);
        done++;
        if (total !== 0 && done === total) resolve();
        else issue();
      }, reject);
    }
  };
  issue();
});
await appender.close();
await store.close();
clearInterval(timer);
flush();
