// The trace page's own GraphQL documents run against this server within the default depth/cost limits
// (a limit that rejected them would blank the page).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DECISIONS_QUERY } from '../../src/web/client/decisions-view.js';
import { CHAIN_EVENTS } from '../../src/web/client/live.js';
import { MODELS_QUERY } from '../../src/web/client/models-view.js';
import { startTestServer, subscribe, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

it('runs the page queries and subscription with the default limits', async () => {
  const key = s.demoKey!;
  expect(key).toMatch(/^ak_/);
  await s.gql('mutation($i: RouteInput!) { route(input: $i) { __typename } }', { i: { messages: [{ role: 'USER', content: 'page' }], maxOutputTokens: 16 } }, { key });
  const models = await s.gql(MODELS_QUERY);
  expect(models.body.errors).toBeUndefined();
  const decisions = await s.gql(DECISIONS_QUERY, { first: 20 }, { key });
  expect(decisions.body.errors).toBeUndefined();
  const sub = subscribe<{ chainEvents: { seq: number } }>(s.wsClient(), CHAIN_EVENTS, { fromSeq: 0 });
  await sub.waitFor((ev) => ev.length > 3);
  expect(sub.errors).toEqual([]);
  sub.stop();
});
