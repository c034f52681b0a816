// The `route` mutation end to end over real HTTP: a real server (SQLite in a temp dir, real signatures,
// the simulated fleet as the only stand-in for LLM providers), driven exactly as an agent would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/chain/verify.js';
import type { PlanOk, RouteRequest } from '../../src/routing/types.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const RESULT = `
  __typename
  ... on RouteSuccess {
    completion model provider finishReason latencyMs simulated
    usage { inputTokens outputTokens }
    cost { micros usd } hold { micros } balance { micros }
    decisionId chainSeqs
    attempts { n ok model provider errorClass cost { micros } }
    candidates { model provider eligible rank refusals { kind message } }
    chainEntries { seq kind agent decision hash sig keyId entry canonical }
    decision { id outcome model cost { micros } chainSeqs }
  }
  ... on NoEligibleModel { message taskType decisionId chainSeqs candidates { model provider eligible refusals { kind message detail } } }
  ... on InsufficientCredit { message required { micros } balance { micros } decisionId chainSeqs }
  ... on AllAttemptsFailed { message attempts { ok errorClass } decisionId }
  ... on ValidationError { field message }
`;

const ROUTE = `mutation Route($input: RouteInput!) { route(input: $input) { ${RESULT} } }`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function route(key: string, input: Record<string, unknown>): Promise<Json> {
  const r = await s.gql<{ route: Json }>(ROUTE, { input }, { key });
  if (!r.body.data?.route) throw new Error(`route failed: ${JSON.stringify(r.body)}`);
  return r.body.data.route;
}

function msg(text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messages: [{ role: 'USER', content: text }], maxOutputTokens: 64, ...extra };
}

/** The router's plan for the same request (what the server would try first right now). */
function plan(req: RouteRequest): PlanOk {
  const p = s.app.router.plan(req, { now: Date.now() });
  if (!p.ok) throw new Error('expected an eligible plan');
  return p;
}

async function balanceOf(key: string): Promise<number> {
  const r = await s.gql<{ me: { balance: { micros: number } } }>('{ me { balance { micros } } }', {}, { key });
  return r.body.data!.me.balance.micros;
}

describe('route mutation', () => {
  it('routes a call and returns completion, usage, cost, decision, attempts and chain entries that verify', async () => {
    const { apiKey } = await s.createAgent('route-ok', 5_000_000);
    const r = await route(apiKey, msg('Say hello to the API test'));
    expect(r.__typename).toBe('RouteSuccess');
    expect(r.completion.length).toBeGreaterThan(0);
    expect(r.simulated).toBe(true);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
    expect(Number.isSafeInteger(r.cost.micros)).toBe(true);
    expect(r.cost.usd).toMatch(/^\d+\.\d{6}$/);
    expect(r.hold.micros).toBeGreaterThanOrEqual(r.cost.micros);
    expect(r.balance.micros).toBe(5_000_000 - r.cost.micros);
    expect(await balanceOf(apiKey)).toBe(5_000_000 - r.cost.micros);
    expect(r.candidates.length).toBeGreaterThan(1);
    expect(r.attempts.at(-1)).toMatchObject({ ok: true, model: r.model, provider: r.provider });
    expect(r.decision).toMatchObject({ id: r.decisionId, outcome: 'COMPLETED', model: r.model, chainSeqs: r.chainSeqs });
    expect(r.chainEntries.map((e: Json) => e.seq)).toEqual(r.chainSeqs);
    expect(r.chainEntries.map((e: Json) => e.kind)).toEqual(expect.arrayContaining(['request', 'debited', 'routed', 'provider_ok', 'completed', 'refunded']));
    for (const e of r.chainEntries) {
      expect(e).toMatchObject({ agent: 'route-ok', decision: r.decisionId });
      expect(e.canonical).not.toContain('Say hello');
    }

    // Every entry verifies with the pure verifier against the served keys, and links to its predecessor.
    const keys = await (await fetch(`${s.url}/v1/audit/keys`)).json();
    const verifier = new ChainVerifier({ keys });
    for (const e of r.chainEntries) {
      const check = verifier.verifyEnvelope({ entry: e.entry, hash: e.hash, sig: e.sig, keyId: e.keyId });
      expect(check.ok, JSON.stringify(check)).toBe(true);
    }
    // And the last one is included in a signed checkpoint (cut at least every 100 ms here).
    const last = r.chainEntries.at(-1);
    let proofed: Json | null = null;
    for (let i = 0; i < 50 && !proofed; i++) {
      const q = await s.gql<{ chainEntry: Json }>(
        'query($seq: SafeInt!) { chainEntry(seq: $seq) { entry hash sig keyId inclusionProof { leafIndex treeSize hashes checkpoint { note size height } } } }',
        { seq: last.seq },
      );
      proofed = q.body.data?.chainEntry?.inclusionProof ? q.body.data.chainEntry : null;
      if (!proofed) await new Promise((res) => setTimeout(res, 50));
    }
    expect(proofed).not.toBeNull();
    const p = proofed!.inclusionProof;
    const inc = verifier.verifyInclusionProof(
      { entry: proofed!.entry, hash: proofed!.hash, sig: proofed!.sig, keyId: proofed!.keyId },
      { leafIndex: p.leafIndex, treeSize: p.treeSize, hashes: p.hashes },
      p.checkpoint.note,
    );
    expect(inc.ok, JSON.stringify(inc)).toBe(true);
  });

  it('honours a pin on model and on provider', async () => {
    const { apiKey } = await s.createAgent('route-pin', 5_000_000);
    const r = await route(apiKey, msg('pinned', { pin: { model: 'glm-4.6' } }));
    expect(r).toMatchObject({ __typename: 'RouteSuccess', model: 'glm-4.6' });
    for (const c of r.candidates.filter((c: Json) => c.model !== 'glm-4.6')) {
      expect(c.eligible).toBe(false);
      expect(c.refusals.map((x: Json) => x.kind)).toContain('PINNED_OUT');
    }
    const provider = r.provider as string;
    const r2 = await route(apiKey, msg('pinned provider', { pin: { provider } }));
    expect(r2).toMatchObject({ __typename: 'RouteSuccess', provider });
  });

  it('refuses a call no model can do inside the cost cap, with a reason per candidate, and charges nothing', async () => {
    const { apiKey } = await s.createAgent('route-cap', 5_000_000);
    const before = s.app.fleet!.requests.length;
    const r = await route(apiKey, msg('too cheap', { maxOutputTokens: 4000, caps: { costCeiling: { usd: '0.000001' } } }));
    expect(r.__typename).toBe('NoEligibleModel');
    expect(r.message.length).toBeGreaterThan(0);
    expect(r.candidates.length).toBeGreaterThan(1);
    for (const c of r.candidates) {
      expect(c.eligible).toBe(false);
      expect(c.refusals.length).toBeGreaterThan(0);
      const over = c.refusals.find((x: Json) => x.kind === 'OVER_COST_CAP');
      expect(over, JSON.stringify(c)).toBeDefined();
      expect(over.message.length).toBeGreaterThan(0);
      expect(over.detail.capMicros).toBe(1);
    }
    expect(s.app.fleet!.requests.length).toBe(before);
    expect(await balanceOf(apiKey)).toBe(5_000_000);
  });

  it('names the field of bad input and writes nothing', async () => {
    const { apiKey } = await s.createAgent('route-bad', 1_000_000);
    const head = (await s.app.store.chain.head())?.seq ?? -1;
    const cases: [Record<string, unknown>, string][] = [
      [{ messages: [{ role: 'USER', content: 'x', parts: [{ type: 'TEXT', text: 'y' }] }] }, 'input.messages.0.parts'],
      [{ messages: [{ role: 'TOOL', content: 'x' }] }, 'input.messages.0.toolCallId'],
      [{ messages: [{ role: 'USER', parts: [{ type: 'IMAGE_URL' }] }] }, 'input.messages.0.parts.0.imageUrl'],
      [{ messages: [{ role: 'USER', content: 'x' }], caps: { costCeiling: { usd: '1.5', micros: 3 } } }, 'input.caps.costCeiling'],
      [{ messages: [{ role: 'USER', content: 'x' }], caps: { costCeiling: { usd: 'lots' } } }, 'input.caps.costCeiling.usd'],
      [{ messages: [] }, 'input.messages'],
      [{ messages: [{ role: 'USER', content: 'x' }], maxOutputTokens: 0 }, 'input.maxOutputTokens'],
    ];
    for (const [input, field] of cases) {
      const r = await route(apiKey, input);
      expect(r, field).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect((await s.app.store.chain.head())?.seq ?? -1).toBe(head);
    expect(await balanceOf(apiKey)).toBe(1_000_000);
  });

  it('accepts image parts, tools and tool results in the OpenAI shape', async () => {
    const { apiKey } = await s.createAgent('route-shapes', 5_000_000);
    const vision = await route(apiKey, {
      messages: [{ role: 'USER', parts: [{ type: 'TEXT', text: 'what is this?' }, { type: 'IMAGE_URL', imageUrl: 'data:image/png;base64,iVBORw0KGgo=' }] }],
      maxOutputTokens: 32,
    });
    expect(vision.__typename).toBe('RouteSuccess');
    const tools = await route(apiKey, {
      messages: [
        { role: 'USER', content: 'weather in Paris?' },
        { role: 'ASSISTANT', toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }] },
        { role: 'TOOL', toolCallId: 'call_1', content: '{"temp":21}' },
      ],
      tools: [{ name: 'weather', description: 'current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      maxOutputTokens: 32,
    });
    expect(tools.__typename).toBe('RouteSuccess');
  });

  it('falls back after a provider 429 and bills only the answer', async () => {
    const { apiKey } = await s.createAgent('route-fallback', 5_000_000);
    const input = msg('fallback please', { taskType: 'CHAT' });
    const first = plan({ messages: [{ role: 'user', content: 'fallback please' }], maxOutputTokens: 64, taskType: 'chat' }).attempts[0]!;
    const rule = s.app.fleet!.inject({ providerId: first.providerId, model: first.upstreamModel, fault: { kind: 'rate_limit', retryAfterSeconds: 30 } });
    try {
      const r = await route(apiKey, input);
      expect(r.__typename).toBe('RouteSuccess');
      expect(`${r.provider}/${r.model}`).not.toBe(`${first.providerId}/${first.modelId}`);
      expect(r.attempts[0]).toMatchObject({ ok: false, errorClass: 'rate_limited', model: first.modelId, cost: { micros: 0 } });
      expect(r.attempts.at(-1)).toMatchObject({ ok: true, model: r.model });
      expect(r.chainEntries.map((e: Json) => e.kind)).toEqual(expect.arrayContaining(['provider_error', 'fallback', 'provider_ok']));
      expect(await balanceOf(apiKey)).toBe(5_000_000 - r.cost.micros);
    } finally {
      rule.remove();
    }
  });

  it('returns InsufficientCredit before any provider call', async () => {
    const { apiKey } = await s.createAgent('route-poor', 1);
    const before = s.app.fleet!.requests.length;
    const r = await route(apiKey, msg('no money'));
    expect(r.__typename).toBe('InsufficientCredit');
    expect(r.balance.micros).toBe(1);
    expect(r.required.micros).toBeGreaterThan(1);
    expect(s.app.fleet!.requests.length).toBe(before);
    expect(await balanceOf(apiKey)).toBe(1);
  });

  it('never lets concurrent calls take a small balance below zero; charges add up', async () => {
    const req: RouteRequest = { messages: [{ role: 'user', content: 'concurrent' }], maxOutputTokens: 64, pin: { model: 'glm-4.6' } };
    const hold = Math.max(...plan(req).attempts.map((c) => c.worstCaseCostMicros));
    const credit = hold * 3 + Math.floor(hold / 2);
    const { apiKey } = await s.createAgent('route-race', credit);
    const results = await Promise.all(Array.from({ length: 10 }, () => route(apiKey, msg('concurrent', { pin: { model: 'glm-4.6' } }))));
    const ok = results.filter((r) => r.__typename === 'RouteSuccess');
    const refused = results.filter((r) => r.__typename === 'InsufficientCredit');
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(ok.length + refused.length).toBe(10);
    for (const r of refused) expect(r.balance.micros).toBeGreaterThanOrEqual(0);
    const spent = ok.reduce((sum, r) => sum + (r.cost.micros as number), 0);
    expect(await balanceOf(apiKey)).toBe(credit - spent);
  });

  it('learns from reportOutcome: failures reported on one model move a later pick off it', async () => {
    const { apiKey } = await s.createAgent('route-learn', 20_000_000);
    const input = msg('extract the invoice total', { taskType: 'EXTRACTION' });
    const firstModel = (await route(apiKey, input)).model as string;
    let moved = false;
    for (let i = 0; i < 25 && !moved; i++) {
      const r = await route(apiKey, input);
      expect(r.__typename).toBe('RouteSuccess');
      if (r.model !== firstModel) {
        moved = true;
        break;
      }
      const fb = await s.gql<{ reportOutcome: Json }>(
        'mutation($id: String!) { reportOutcome(decisionId: $id, success: false, reason: "wrong total") { __typename ... on OutcomeRecorded { model success chainSeq chainEntry { kind } } ... on OutcomeRefused { code } } }',
        { id: r.decisionId },
        { key: apiKey },
      );
      expect(fb.body.data?.reportOutcome).toMatchObject({ __typename: 'OutcomeRecorded', model: firstModel, success: false, chainEntry: { kind: 'feedback' } });
    }
    expect(moved).toBe(true);
  });

  it('takes feedback only on the caller own, answered decisions, once', async () => {
    const a = await s.createAgent('route-fb-a', 5_000_000);
    const b = await s.createAgent('route-fb-b', 5_000_000);
    const r = await route(a.apiKey, msg('feedback target'));
    const FB = 'mutation($id: String!, $ok: Boolean!) { reportOutcome(decisionId: $id, success: $ok) { __typename ... on OutcomeRefused { code } } }';
    const foreign = await s.gql<{ reportOutcome: Json }>(FB, { id: r.decisionId, ok: true }, { key: b.apiKey });
    expect(foreign.body.data?.reportOutcome).toEqual({ __typename: 'OutcomeRefused', code: 'DECISION_NOT_FOUND' });
    const first = await s.gql<{ reportOutcome: Json }>(FB, { id: r.decisionId, ok: true }, { key: a.apiKey });
    expect(first.body.data?.reportOutcome.__typename).toBe('OutcomeRecorded');
    const again = await s.gql<{ reportOutcome: Json }>(FB, { id: r.decisionId, ok: false }, { key: a.apiKey });
    expect(again.body.data?.reportOutcome).toEqual({ __typename: 'OutcomeRefused', code: 'FEEDBACK_ALREADY_GIVEN' });
  });

  it('replays an idempotent call without a second provider call or charge', async () => {
    const { apiKey } = await s.createAgent('route-idem', 5_000_000);
    const input = msg('idempotent', { idempotencyKey: 'key-1' });
    const first = await route(apiKey, input);
    const calls = s.app.fleet!.requests.length;
    const second = await route(apiKey, input);
    expect(second.decisionId).toBe(first.decisionId);
    expect(second.completion).toBe(first.completion);
    expect(s.app.fleet!.requests.length).toBe(calls);
    expect(await balanceOf(apiKey)).toBe(5_000_000 - first.cost.micros);
  });
});

describe('decisions', () => {
  const PAGE = `query($first: Int, $after: String, $filter: DecisionFilter) {
    decisions(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id model outcome taskType agent { handle } } }
      pageInfo { hasNextPage endCursor }
    }
  }`;

  it('pages newest first with opaque cursors, filters, and shows each agent only its own', async () => {
    const a = await s.createAgent('dec-a', 20_000_000);
    const b = await s.createAgent('dec-b', 20_000_000);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const model = i < 2 ? 'glm-4.6' : 'glm-4.5-air';
      ids.push((await route(a.apiKey, msg(`call ${i}`, { pin: { model } }))).decisionId);
    }
    const refused = await route(a.apiKey, msg('refused', { maxOutputTokens: 4000, caps: { costCeiling: { micros: 1 } } }));
    expect(refused.__typename).toBe('NoEligibleModel');
    await route(b.apiKey, msg('b call'));

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: { body: { data?: { decisions: Json } | null } } = await s.gql<{ decisions: Json }>(PAGE, { first: 2, after }, { key: a.apiKey });
      const conn = r.body.data!.decisions;
      for (const e of conn.edges) {
        expect(e.node.agent.handle).toBe('dec-a');
        expect(e.cursor).not.toContain(e.node.id);
        seen.push(e.node.id);
      }
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect(seen.slice(1)).toEqual([...ids].reverse());

    const byModel = await s.gql<{ decisions: Json }>(PAGE, { first: 10, filter: { model: 'glm-4.6' } }, { key: a.apiKey });
    expect(byModel.body.data!.decisions.edges.map((e: Json) => e.node.id).sort()).toEqual(ids.slice(0, 2).sort());
    const rejected = await s.gql<{ decisions: Json }>(PAGE, { first: 10, filter: { outcome: 'REJECTED' } }, { key: a.apiKey });
    expect(rejected.body.data!.decisions.edges.map((e: Json) => e.node.id)).toEqual([refused.decisionId]);
    const future = await s.gql<{ decisions: Json }>(PAGE, { first: 10, filter: { since: '2999-01-01T00:00:00Z' } }, { key: a.apiKey });
    expect(future.body.data!.decisions.edges).toHaveLength(0);

    // Another agent's decision is invisible; the admin can filter by handle.
    const other = await s.gql<{ decision: Json | null }>('query($id: String!) { decision(id: $id) { id } }', { id: ids[0] }, { key: b.apiKey });
    expect(other.body.data?.decision).toBeNull();
    const forbidden = await s.gql(PAGE, { first: 5, filter: { agent: 'dec-a' } }, { key: b.apiKey });
    expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const admin = await s.gql<{ decisions: Json }>(PAGE, { first: 50, filter: { agent: 'dec-b' } }, { admin: true });
    expect(admin.body.data!.decisions.edges).toHaveLength(1);
    const anon = await s.gql(PAGE, { first: 5 });
    expect(anon.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badCursor = await s.gql(PAGE, { first: 5, after: 'bm9wZQ' }, { key: a.apiKey });
    expect(badCursor.body.errors?.[0]?.extensions?.field).toBe('after');

    // Analyst aggregates over the same calls.
    const stats = await s.gql<{ decisionStats: Json }>(
      '{ decisionStats { decisionsScanned rows { model taskType calls completed rejected finishRate spend { micros } latencyP50Ms latencyP95Ms } } }',
      {},
      { key: a.apiKey },
    );
    const report = stats.body.data!.decisionStats;
    expect(report.decisionsScanned).toBe(6);
    const glm46 = report.rows.find((r: Json) => r.model === 'glm-4.6');
    expect(glm46).toMatchObject({ calls: 2, completed: 2, finishRate: 1 });
    expect(glm46.latencyP50Ms).toBeGreaterThan(0);
    expect(report.rows.find((r: Json) => r.model === null)).toMatchObject({ calls: 1, rejected: 1 });
  });
});
