// CPU-profiles another Node process over its inspector (started with --inspect=127.0.0.1:0), for exactly
// the window being measured: start and stop on demand, unlike --cpu-prof, which covers start-up and
// warm-up too. Main thread only (worker threads have their own isolates).
import WebSocket from 'ws';
import type { CpuProfile } from './cpuprofile.js';

export interface RemoteProfiler {
  /** Starts sampling every `intervalUs` microseconds. */
  start(intervalUs?: number): Promise<void>;
  stop(): Promise<CpuProfile>;
  close(): void;
}

export async function connectProfiler(wsUrl: string): Promise<RemoteProfiler> {
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id === undefined) return;
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
    else w.resolve(m.result);
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  return {
    async start(intervalUs = 200) {
      await call('Profiler.setSamplingInterval', { interval: intervalUs });
      await call('Profiler.start');
    },
    async stop() {
      const r = await call<{ profile: CpuProfile }>('Profiler.stop');
      return r.profile;
    },
    close() {
      ws.close();
    },
  };
}
