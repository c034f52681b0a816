// No N+1: nested lists resolve with batched store reads. The store is wrapped to count calls while one
// GraphQL request walks decisions → agent and decisions → chain entries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seqRuns } from '../../src/api/loaders.js';
import type { Store } from '../../src/store/port.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const calls = new Map<string, number>();
let counting = false;

function counted<T extends object>(name: string, target: T): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (counting) calls.set(`${name}.${String(prop)}`, (calls.get(`${name}.${String(prop)}`) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

function wrap(store: Store): Store {
  return {
    kind: store.kind,
    chain: counted('chain', store.chain),
    accounts: counted('accounts', store.accounts),
    decisions: counted('decisions', store.decisions),
    stats: counted('stats', store.stats),
    close: () => store.close(),
  };
}

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ wrapStore: wrap });
});
afterAll(async () => {
  await s?.close();
});

describe('DataLoader batching', () => {
  it('reads agents and chain entries of a page of decisions in a constant number of store calls', async () => {
    const agents = [await s.createAgent('dl-a', 20_000_000), await s.createAgent('dl-b', 20_000_000), await s.createAgent('dl-c', 20_000_000)];
    const ROUTE = 'mutation($i: RouteInput!) { route(input: $i) { __typename } }';
    for (let i = 0; i < 9; i++) {
      const r = await s.gql<{ route: { __typename: string } }>(ROUTE, { i: { messages: [{ role: 'USER', content: `call ${i}` }], maxOutputTokens: 16 } }, { key: agents[i % 3]!.apiKey });
      expect(r.body.data?.route.__typename).toBe('RouteSuccess');
    }
    const QUERY = `{ decisions(first: 9) { edges { node { id agent { handle balance { micros } } chainSeqs chainEntries { seq kind agent } } } } }`;
    // Warm up the schema/plan caches outside the count.
    await s.gql(QUERY, {}, { admin: true });
    calls.clear();
    counting = true;
    const r = await s.gql<{ decisions: { edges: { node: { agent: { handle: string }; chainSeqs: number[]; chainEntries: { seq: number }[] } }[] } }>(QUERY, {}, { admin: true });
    counting = false;
    const edges = r.body.data!.decisions.edges;
    expect(edges).toHaveLength(9);
    const allSeqs = edges.flatMap((e) => e.node.chainSeqs);
    expect(allSeqs.length).toBeGreaterThan(9 * 4);
    for (const e of edges) expect(e.node.chainEntries.map((x) => x.seq)).toEqual(e.node.chainSeqs);
    expect(new Set(edges.map((e) => e.node.agent.handle))).toEqual(new Set(['dl-a', 'dl-b', 'dl-c']));

    // One page read, one agents read for 9 decisions, one range read per run of consecutive seqs.
    expect(calls.get('decisions.list')).toBe(1);
    expect(calls.get('accounts.agentsByIds')).toBe(1);
    expect(calls.get('decisions.byIds') ?? 0).toBe(0);
    expect(calls.get('chain.entry') ?? 0).toBe(0);
    expect(calls.get('chain.entriesOfDecision') ?? 0).toBe(0);
    expect(calls.get('chain.entries')).toBe(seqRuns(allSeqs).length);
    expect(calls.get('chain.entries')).toBeLessThan(9);
  });

  it('splits seqs into runs of consecutive numbers', () => {
    expect(seqRuns([5, 3, 4, 9, 9, 10, 1])).toEqual([
      { from: 1, count: 1 },
      { from: 3, count: 3 },
      { from: 9, count: 2 },
    ]);
    expect(seqRuns([0, 1, 2, 3], 2)).toEqual([
      { from: 0, count: 2 },
      { from: 2, count: 2 },
    ]);
  });
});
