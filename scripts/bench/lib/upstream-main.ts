// Child-process entry of the instant upstream (scripts/bench/lib/upstream.ts), so its CPU is not shared
// with the load generator's event loop. Talks to the parent over IPC:
//   → {type:'ready', port, baseUrl}      ← {type:'served'} → {type:'served', n}      ← {type:'stop'}
import { startInstantUpstream } from './upstream.js';

const upstream = await startInstantUpstream(Number(process.env.UPSTREAM_PORT ?? 0));
const send = (m: unknown): void => {
  process.send?.(m);
};
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'served') send({ type: 'served', n: upstream.served() });
  if (m?.type === 'stop') void upstream.close().then(() => process.exit(0));
});
// The parent went away: do not linger.
process.on('disconnect', () => void upstream.close().then(() => process.exit(0)));
send({ type: 'ready', port: upstream.port, baseUrl: upstream.baseUrl });
