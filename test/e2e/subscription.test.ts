// chainEvents over a real WebSocket (graphql-ws client on `ws`): replay then live with no gap and no
// duplicate while entries are appended concurrently, every event a verifiable envelope; and a subscriber
// that stops reading is cut off with a clear error while the others keep up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ChainVerifier } from '../../src/chain/verify.js';
import { startTestServer, subscribe, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { api: { subscriberBufferLimit: 500 } } });
});
afterAll(async () => {
  await s?.close();
});

const EVENTS = `subscription($from: SafeInt, $agent: String, $kinds: [String!]) {
  chainEvents(fromSeq: $from, agent: $agent, kinds: $kinds) { seq entry hash sig keyId checkpointHeight checkpointSize }
}`;

function append(n: number, agent = 'sub-a', kind = 'probe', pad = 0): Promise<unknown> {
  const fields: Record<string, string | number> = {};
  for (let f = 0; f < pad; f++) fields[`pad${f}`] = 'x'.repeat(1000);
  return Promise.all(Array.from({ length: n }, (_, i) => s.app.appender.append({ kind, agent, decision: `d-${kind}-${i}`, fields: { i, ...fields } })));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('chainEvents', () => {
  it('replays then streams live with no gap and no duplicate under concurrent appends', async () => {
    await append(200);
    const client = s.wsClient();
    const fromZero = subscribe<{ chainEvents: Json }>(client, EVENTS, { from: 0 });
    const fromMid = subscribe<{ chainEvents: Json }>(client, EVENTS, { from: 120 });
    const onlyB = subscribe<{ chainEvents: Json }>(client, EVENTS, { from: 0, agent: 'sub-b' });
    // Appends keep landing while the subscribers replay and switch to live.
    for (let i = 0; i < 20; i++) {
      await append(20, i % 4 === 0 ? 'sub-b' : 'sub-a');
      if (i === 5) {
        // A route call through the real call path lands among them too.
        const { apiKey } = await s.createAgent('sub-router', 5_000_000);
        await s.gql('mutation($i: RouteInput!) { route(input: $i) { __typename } }', { i: { messages: [{ role: 'USER', content: 'hi' }], maxOutputTokens: 16 } }, { key: apiKey });
      }
    }
    const head = (await s.app.store.chain.head())!.seq;
    await fromZero.waitFor((ev) => ev.at(-1)?.chainEvents.seq === head);
    await fromMid.waitFor((ev) => ev.at(-1)?.chainEvents.seq === head);
    expect(fromZero.events.map((e) => e.chainEvents.seq)).toEqual(range(0, head + 1));
    expect(fromMid.events.map((e) => e.chainEvents.seq)).toEqual(range(120, head + 1));
    const bSeqs = (await s.app.store.chain.entries(0, head + 1)).filter((e) => e.agent === 'sub-b').map((e) => e.seq);
    await onlyB.waitFor((ev) => ev.length === bSeqs.length);
    expect(onlyB.events.map((e) => e.chainEvents.seq)).toEqual(bSeqs);
    expect(fromZero.errors).toEqual([]);

    // Each event is a verifiable envelope with the checkpoint height/size beside it.
    const keys = await (await fetch(`${s.url}/v1/audit/keys`)).json();
    const verifier = new ChainVerifier({ keys });
    const progress = verifier.push(fromZero.events.map((e) => ({ entry: e.chainEvents.entry, hash: e.chainEvents.hash, sig: e.chainEvents.sig, keyId: e.chainEvents.keyId })));
    expect(progress.ok, JSON.stringify(progress)).toBe(true);
    const last = fromZero.events.at(-1)!.chainEvents;
    expect(typeof last.checkpointHeight).toBe('number');
    expect(last.checkpointSize).toBeGreaterThan(0);
    fromZero.stop();
    fromMid.stop();
    onlyB.stop();
  });

  it('cuts off a subscriber whose socket stops reading, with a clear error; the others get everything', async () => {
    const fastClient = s.wsClient();
    const head0 = (await s.app.store.chain.head())?.seq ?? -1;
    const fast = subscribe<{ chainEvents: Json }>(fastClient, 'subscription { chainEvents { seq } }');

    // A raw socket that subscribes, then stops reading from TCP.
    const slow = new WebSocket(s.wsUrl, 'graphql-transport-ws');
    const messages: Json[] = [];
    slow.on('message', (m) => messages.push(JSON.parse(String(m)) as Json));
    await new Promise<void>((resolve) => {
      slow.once('open', () => slow.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      slow.on('message', () => {
        if (messages.some((m) => m.type === 'connection_ack') && !messages.some((m) => m.type === 'sent')) {
          messages.push({ type: 'sent' });
          slow.send(JSON.stringify({ id: 'slow', type: 'subscribe', payload: { query: 'subscription { chainEvents { seq entry hash sig envelope { canonical } } }' } }));
          resolve();
        }
      });
    });
    while (s.app.feed.size < 2) await new Promise((r) => setTimeout(r, 10));
    (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    // Big entries until the kernel buffers fill and the slow subscriber's queue passes the limit (500).
    let batches = 0;
    while (s.app.feed.size >= 2 && batches < 60) {
      await append(100, 'sub-flood', 'flood', 8);
      batches++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(s.app.feed.size).toBe(1);
    const head = (await s.app.store.chain.head())!.seq;
    await fast.waitFor((ev) => ev.at(-1)?.chainEvents.seq === head, 20_000);
    expect(fast.events.map((e) => e.chainEvents.seq)).toEqual(range(head0 + 1, head + 1));

    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    const deadline = Date.now() + 20_000;
    while (!messages.some((m) => m.id === 'slow' && (m.type === 'error' || m.type === 'complete')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const end = messages.find((m) => m.id === 'slow' && (m.type === 'error' || m.type === 'complete'));
    expect(end?.type).toBe('error');
    expect(end?.payload[0].message).toMatch(/fell more than 500 entries behind.*resubscribe with fromSeq: \d+/);
    expect(end?.payload[0].extensions.code).toBe('SUBSCRIBER_TOO_SLOW');
    // What it did receive was in order, with no gap, up to where it resumes.
    const got = messages.filter((m) => m.id === 'slow' && m.type === 'next').map((m) => m.payload.data.chainEvents.seq as number);
    expect(got).toEqual(range(head0 + 1, head0 + 1 + got.length));
    expect(end?.payload[0].extensions.resumeFromSeq).toBe(head0 + 1 + got.length);
    slow.close();
    fast.stop();
  });
});
