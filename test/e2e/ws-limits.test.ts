// Anonymous WebSockets are allowed (the chain is public), so what one client can hold open is bounded:
// operations per connection, and connections per server. Past either bound the client gets a clear
// refusal and everything already running keeps working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, subscribe, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { api: { maxOperationsPerSocket: 3, maxWebSockets: 2 } } });
});
afterAll(async () => {
  await s?.close();
});

const EVENTS = 'subscription { chainEvents { seq } }';

describe('WebSocket bounds', () => {
  it('refuses operations past the per-connection limit without closing the socket', async () => {
    const client = s.wsClient();
    const open = [1, 2, 3].map(() => subscribe<{ chainEvents: Json }>(client, EVENTS));
    const fourth = subscribe<{ chainEvents: Json }>(client, EVENTS);
    await fourth.done;
    expect(JSON.stringify(fourth.errors)).toMatch(/at most 3 operations/);
    // The three running ones still receive live entries.
    await s.app.appender.append({ kind: 'probe', agent: 'ws-limit', decision: 'd-ws-1' });
    await Promise.all(open.map((o) => o.waitFor((e) => e.length >= 1)));
    // Ending one frees a slot.
    open[0]!.stop();
    await new Promise((r) => setTimeout(r, 100));
    const again = subscribe<{ chainEvents: Json }>(client, EVENTS);
    await s.app.appender.append({ kind: 'probe', agent: 'ws-limit', decision: 'd-ws-2' });
    await again.waitFor((e) => e.length >= 1);
    expect(again.errors).toEqual([]);
    for (const o of [...open, again]) o.stop();
    await client.dispose();
  });

  it('refuses a WebSocket past the server-wide limit with 503', async () => {
    // The previous test's socket must be gone server-side before counting starts.
    for (let i = 0; i < 50 && s.ainfera.server.wss.clients.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.ainfera.server.wss.clients.size).toBe(0);
    const opened: WebSocket[] = [];
    const connect = () =>
      new Promise<{ ok: boolean; status?: number }>((resolve) => {
        const ws = new WebSocket(s.wsUrl, 'graphql-transport-ws');
        ws.once('open', () => {
          opened.push(ws);
          resolve({ ok: true });
        });
        ws.once('unexpected-response', (_req, res) => resolve({ ok: false, status: res.statusCode }));
        ws.once('error', () => resolve({ ok: false }));
      });
    expect(await connect()).toEqual({ ok: true });
    expect(await connect()).toEqual({ ok: true });
    expect(await connect()).toEqual({ ok: false, status: 503 });
    for (const ws of opened) ws.close();
  });
});
