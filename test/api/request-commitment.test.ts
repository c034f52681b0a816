// The owner of a decision can prove which request it answered: the salt from its private decision record
// (GraphQL Decision.requestSalt) and its own request reproduce the public `request` entry's commitment.
import { createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const ROUTE = 'mutation($i: RouteInput!) { route(input: $i) { __typename ... on RouteSuccess { decisionId } } }';
const DECISION = 'query($id: String!) { d: decision(id: $id) { requestSalt chainEntries { canonical } } }';

describe('Decision.requestSalt', () => {
  it('lets the owner recompute the request entry commitment from its own request; nobody else gets the salt', async () => {
    const owner = await s.createAgent('commit-owner', 20_000_000);
    const other = await s.createAgent('commit-other', 20_000_000);
    const r = await s.gql<{ route: { __typename: string; decisionId: string } }>(
      ROUTE,
      { i: { messages: [{ role: 'SYSTEM', content: 'Be brief.' }, { role: 'USER', content: 'Which request was this?' }], maxOutputTokens: 16 } },
      { key: owner.apiKey },
    );
    expect(r.body.data?.route.__typename).toBe('RouteSuccess');
    const id = r.body.data!.route.decisionId;

    const mine = await s.gql<{ d: { requestSalt: string | null; chainEntries: { canonical: string }[] } }>(DECISION, { id }, { key: owner.apiKey });
    const salt = mine.body.data!.d.requestSalt;
    expect(salt).toMatch(/^[0-9a-f]{64}$/);
    const request = mine.body.data!.d.chainEntries.map((e) => JSON.parse(e.canonical) as Record<string, unknown>).find((e) => e.kind === 'request')!;
    expect(request.requestCommitment).toMatch(/^0x[0-9a-f]{64}$/);

    // The owner's own request, in the normalized shape the commitment is over (docs/chain-format.md §9).
    const own = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Which request was this?' }], maxOutputTokens: 16 };
    const commit = (req: unknown) => `0x${createHmac('sha256', Buffer.from(salt!, 'hex')).update(canonicalize(req)!, 'utf8').digest('hex')}`;
    expect(commit(own)).toBe(request.requestCommitment);
    // Any other request (here: another token limit) does not match.
    expect(commit({ ...own, maxOutputTokens: 17 })).not.toBe(request.requestCommitment);

    // The admin sees the salt; another agent gets no decision at all, so no salt.
    const admin = await s.gql<{ d: { requestSalt: string | null } | null }>(DECISION, { id }, { admin: true });
    expect(admin.body.data?.d?.requestSalt).toBe(salt);
    const foreign = await s.gql<{ d: { requestSalt: string | null } | null }>(DECISION, { id }, { key: other.apiKey });
    expect(foreign.body.data?.d?.requestSalt ?? null).toBeNull();
    expect(JSON.stringify(foreign.body)).not.toContain(salt);
  });
});
