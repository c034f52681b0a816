import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionNotFoundError, FeedbackAlreadyGivenError, ForeignDecisionError, NoModelAnsweredError, ROUTE_PHASES, type RouteCallResult, type RouteSuccess } from '../../src/gateway/types.js';
import type { PlanOk, RouteRequest } from '../../src/routing/types.js';
import { createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import { createGateway, type DecisionDetail } from '../../src/gateway/gateway.js';
import { RECOVERED_REASON, sweepAbandoned } from '../../src/gateway/recovery.js';
import { requestHash, validateRouteRequest } from '../../src/gateway/validate.js';
import { chat, parsedCanonical, pendingDecision, startHarness, type Harness } from './harness.js';
import { ChainAppender, ChainClosedError } from '../../src/chain/appender.js';
import { loadSigningKeys } from '../../src/chain/keys.js';
import type { AccountsStore, DecisionRecord, DecisionsStore, Store } from '../../src/store/port.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function ok(r: RouteCallResult): RouteSuccess {
  if (r.type !== 'RouteSuccess') throw new Error(`expected RouteSuccess, got ${JSON.stringify(r).slice(0, 600)}`);
  return r;
}

async function entriesOf(decisionId: string): Promise<Record<string, unknown>[]> {
  return parsedCanonical((await h.store.chain.entriesOfDecision(decisionId)).map((e) => e.canonical));
}

function firstPick(req: RouteRequest): PlanOk {
  const plan = h.router.plan(req, { now: Date.now() });
  if (!plan.ok) throw new Error('expected an eligible plan');
  return plan;
}

describe('routeCall', () => {
  it('routes, holds the worst case, charges the answer, refunds the rest, and audits every step', async () => {
    const { record } = await h.agent('gw-success', 5_000_000);
    const r = ok(await h.gateway.routeCall(record, chat('Say hello to the gateway test')));
    expect(r.content.length).toBeGreaterThan(0);
    expect(r.simulated).toBe(true);
    expect(h.catalog.model(r.model)).toBeDefined();
    expect(Number.isSafeInteger(r.costMicros)).toBe(true);
    expect(r.costMicros).toBeGreaterThan(0);
    expect(r.holdMicros).toBeGreaterThanOrEqual(r.costMicros);
    expect(r.balanceMicros).toBe(5_000_000 - r.costMicros);
    expect(await h.balance(record.id)).toBe(5_000_000 - r.costMicros);
    expect(r.decision.candidates.length).toBeGreaterThan(1);
    expect(r.decision.attempts).toHaveLength(1);
    expect(r.decision.attempts[0]).toMatchObject({ ok: true, model: r.model, provider: r.provider, costMicros: r.costMicros });

    const entries = await entriesOf(r.decisionId);
    expect(entries.map((e) => e.seq)).toEqual(r.chainSeqs);
    const kinds = entries.map((e) => e.kind);
    expect(kinds[0]).toBe('request');
    expect(kinds).toEqual(expect.arrayContaining(['request', 'debited', 'routed', 'provider_ok', 'completed', 'refunded']));
    // The hold precedes any provider event; the refund follows the completion.
    expect(kinds.indexOf('debited')).toBeLessThan(kinds.indexOf('provider_ok'));
    expect(kinds.indexOf('refunded')).toBeGreaterThan(kinds.indexOf('completed'));
    for (const e of entries) expect(e.agent).toBe('gw-success');
    const request = entries[0]!;
    // The public entry carries a salted commitment; the salt stays in the private record, so the owner can
    // prove which request this was (HMAC-SHA256 of its canonical bytes) and nobody else can test a guess.
    expect(request.requestHash).toBeUndefined();
    const [rec] = await h.store.decisions.byIds([r.decisionId]);
    const detail = rec!.detail as DecisionDetail;
    expect(detail.requestSalt).toMatch(/^[0-9a-f]{64}$/);
    const normalized = validateRouteRequest(chat('Say hello to the gateway test'));
    if (!normalized.ok) throw new Error('test request must be valid');
    const bytes = canonicalize(normalized.request)!;
    expect(request.requestCommitment).toBe(`0x${createHmac('sha256', Buffer.from(detail.requestSalt!, 'hex')).update(bytes).digest('hex')}`);
    expect(detail.requestHash).toBe(requestHash(normalized.request));
    expect((await h.chainText()).join('\n')).not.toContain(detail.requestHash.slice(2));
    // Balances are private: what moved is on the chain, what is left is not.
    for (const e of entries) expect(e).not.toHaveProperty('balanceMicros');
    const refunded = entries.find((e) => e.kind === 'refunded')!;
    expect(refunded).toMatchObject({ holdMicros: r.holdMicros, costMicros: r.costMicros, refundMicros: r.holdMicros - r.costMicros });

    const [d] = await h.store.decisions.byIds([r.decisionId]);
    expect(d).toMatchObject({ outcome: 'completed', model: r.model, provider: r.provider, costMicros: r.costMicros, holdMicros: r.holdMicros, chainSeqs: r.chainSeqs });
    // Without an idempotency key the private record keeps no completion text.
    expect(JSON.stringify(d?.detail)).not.toContain(r.content);
  });

  it('refuses bad input naming the field and writes nothing', async () => {
    const { record } = await h.agent('gw-invalid', 1_000_000);
    const before = (await h.chainText()).length;
    const cases: [unknown, string][] = [
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'x' }, { role: 'wizard', content: 'x' }] }, 'messages.1.role'],
      [{ messages: [{ role: 'user', content: 'x' }], maxOutputTokens: 0 }, 'maxOutputTokens'],
      [{ messages: [{ role: 'user', content: 'x' }], caps: { costCeilingMicros: 1.5 } }, 'caps.costCeilingMicros'],
      [{ messages: [{ role: 'user', content: 'x' }], taskType: 'poetry' }, 'taskType'],
      [{ messages: [{ role: 'user', content: 'x' }], temperature: 3 }, 'temperature'],
      [{ messages: [{ role: 'user', content: [{ type: 'audio' }] }] }, 'messages.0.content.0.type'],
      [{ messages: [{ role: 'user', content: 'x' }], surprise: 1 }, 'surprise'],
    ];
    for (const [req, field] of cases) {
      const r = await h.gateway.routeCall(record, req as RouteRequest);
      expect(r, field).toMatchObject({ type: 'ValidationError', field });
    }
    const badKey = await h.gateway.routeCall(record, chat('x'), { idempotencyKey: 'has space' });
    expect(badKey).toMatchObject({ type: 'ValidationError', field: 'idempotencyKey' });
    expect((await h.chainText()).length).toBe(before);
    expect((await h.store.decisions.list({ agentId: record.id }, 10)).items).toHaveLength(0);
    expect(await h.balance(record.id)).toBe(1_000_000);
  });

  it('returns NoEligibleModel with a reason per candidate, and moves no money', async () => {
    const { record } = await h.agent('gw-caps', 1_000_000);
    const calls = h.fleet.requests.length;
    const r = await h.gateway.routeCall(record, chat('hi', { caps: { costCeilingMicros: 1 } }));
    expect(r.type).toBe('NoEligibleModel');
    if (r.type !== 'NoEligibleModel') return;
    expect(r.candidates.length).toBeGreaterThan(1);
    for (const c of r.candidates) {
      expect(c.eligible).toBe(false);
      expect(c.refusals.length).toBeGreaterThan(0);
    }
    expect(r.candidates.some((c) => c.refusals.some((x) => x.kind === 'over_cost_cap'))).toBe(true);
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(1_000_000);
    const kinds = (await entriesOf(r.decisionId)).map((e) => e.kind);
    expect(kinds).toEqual(['request', 'rejected']);
    const [d] = await h.store.decisions.byIds([r.decisionId]);
    expect(d?.outcome).toBe('rejected');
  });

  it('answers InsufficientCredit before any provider is called', async () => {
    const { record } = await h.agent('gw-broke', 1);
    const calls = h.fleet.requests.length;
    const r = await h.gateway.routeCall(record, chat('hi'));
    expect(r.type).toBe('InsufficientCredit');
    if (r.type !== 'InsufficientCredit') return;
    expect(r.balanceMicros).toBe(1);
    expect(r.requiredMicros).toBeGreaterThan(1);
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(1);
    const entries = await entriesOf(r.decisionId);
    expect(entries.map((e) => e.kind)).toEqual(['request', 'rejected']);
    expect(entries[1]).toMatchObject({ reason: 'insufficient_credit', requiredMicros: r.requiredMicros });
    expect(entries[1]).not.toHaveProperty('balanceMicros');
  });

  it('does not bill failed attempts: everything fails → AllAttemptsFailed and the whole hold comes back', async () => {
    const { record } = await h.agent('gw-fail', 1_000_000);
    const req = chat('this will fail', { pin: { model: 'glm-4.6' } });
    const plan = firstPick(req);
    const rules = plan.attempts.map((c) => h.fleet.inject({ providerId: c.providerId, model: c.upstreamModel, fault: { kind: 'status', status: 500 } }));
    try {
      const r = await h.gateway.routeCall(record, req);
      expect(r.type).toBe('AllAttemptsFailed');
      if (r.type !== 'AllAttemptsFailed') return;
      expect(r.attempts.length).toBeGreaterThan(0);
      for (const a of r.attempts) expect(a).toMatchObject({ ok: false, errorClass: 'overloaded', costMicros: 0 });
      expect(await h.balance(record.id)).toBe(1_000_000);
      const kinds = (await entriesOf(r.decisionId)).map((e) => e.kind);
      expect(kinds).toEqual(expect.arrayContaining(['debited', 'provider_error', 'rejected', 'refunded']));
      const refunded = (await entriesOf(r.decisionId)).find((e) => e.kind === 'refunded')!;
      expect(refunded.costMicros).toBe(0);
    } finally {
      for (const rule of rules) rule.remove();
    }
  });

  it('falls back after a provider 429 and bills only the answer', async () => {
    const { record } = await h.agent('gw-fallback', 5_000_000);
    const req = chat('fallback please', { taskType: 'chat' });
    const first = firstPick(req).attempts[0]!;
    const rule = h.fleet.inject({ providerId: first.providerId, model: first.upstreamModel, fault: { kind: 'rate_limit', retryAfterSeconds: 30 } });
    try {
      const r = ok(await h.gateway.routeCall(record, req));
      expect(`${r.provider}/${r.model}`).not.toBe(`${first.providerId}/${first.modelId}`);
      expect(r.decision.attempts[0]).toMatchObject({ ok: false, errorClass: 'rate_limited', model: first.modelId, costMicros: 0 });
      expect(r.decision.attempts.at(-1)).toMatchObject({ ok: true, model: r.model });
      expect(await h.balance(record.id)).toBe(5_000_000 - r.costMicros);
      const kinds = (await entriesOf(r.decisionId)).map((e) => e.kind);
      expect(kinds).toEqual(expect.arrayContaining(['provider_error', 'fallback', 'provider_ok', 'completed']));
    } finally {
      rule.remove();
    }
  });

  it('charges the hold, never nothing, when the executor reports an unusable cost', async () => {
    const { record } = await h.agent('gw-absurd-usage', 5_000_000);
    const req = chat('absurd usage');
    let plannedHold = 0;
    const gw = createGateway({
      store: h.store,
      appender: h.appender,
      router: h.router,
      signals: h.signals,
      execute: async ({ plan, budgetMicros }) => {
        plannedHold = budgetMicros;
        const c = plan.attempts[0]!;
        // A provider claiming 1e300 tokens overflows the integer cost arithmetic.
        return { ok: true, modelId: c.modelId, providerId: c.providerId, content: 'x', costMicros: 1e300, attempts: [] };
      },
    });
    const r = ok(await gw.routeCall(record, req));
    expect(plannedHold).toBeGreaterThan(0);
    expect(r.costMicros).toBe(plannedHold);
    expect(await h.balance(record.id)).toBe(5_000_000 - plannedHold);
    await gw.drain();
  });

  it('releases the whole hold when the executor throws, and leaves no decision pending', async () => {
    const { record } = await h.agent('gw-exec-throws', 5_000_000);
    let held = -1;
    const gw = createGateway({
      store: h.store,
      appender: h.appender,
      router: h.router,
      signals: h.signals,
      execute: async () => {
        held = 5_000_000 - (await h.balance(record.id));
        throw new Error('executor bug');
      },
    });
    const r = await gw.routeCall(record, chat('executor throws'));
    expect(r.type).toBe('AllAttemptsFailed');
    expect(held).toBeGreaterThan(0);
    expect(await h.balance(record.id)).toBe(5_000_000);
    const [d] = await h.store.decisions.byIds([(r as { decisionId: string }).decisionId]);
    expect(d).toMatchObject({ outcome: 'failed', costMicros: 0 });
    const refunded = (await entriesOf(d!.id)).find((e) => e.kind === 'refunded');
    expect(refunded).toMatchObject({ costMicros: 0, refundMicros: held });
    await gw.drain();
  });

  it('never lets concurrent calls take the balance below zero; charges add up', async () => {
    const req = chat('concurrent', { pin: { model: 'glm-4.6' } });
    const hold = Math.max(...firstPick(req).attempts.map((c) => c.worstCaseCostMicros));
    const credit = hold * 3 + Math.floor(hold / 2);
    const { record } = await h.agent('gw-race', credit);
    const results = await Promise.all(Array.from({ length: 12 }, () => h.gateway.routeCall(record, req)));
    const successes = results.filter((r): r is RouteSuccess => r.type === 'RouteSuccess');
    const refused = results.filter((r) => r.type === 'InsufficientCredit');
    expect(successes.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(successes.length + refused.length).toBe(12);
    const final = await h.balance(record.id);
    expect(final).toBeGreaterThanOrEqual(0);
    expect(successes.reduce((s, r) => s + r.costMicros, 0)).toBe(credit - final);
  });

  it('charges nothing for a call aborted before any request reached a provider', async () => {
    const { record } = await h.agent('gw-abort-early', 5_000_000);
    const calls = h.fleet.requests.length;
    const ac = new AbortController();
    ac.abort();
    const r = await h.gateway.routeCall(record, chat('gone before it started'), { signal: ac.signal });
    expect(r).toMatchObject({ type: 'AllAttemptsFailed', aborted: true, costMicros: 0 });
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(5_000_000);
    const [d] = await h.store.decisions.byIds([(r as { decisionId: string }).decisionId]);
    expect(d).toMatchObject({ outcome: 'failed', costMicros: 0 });
  });

  it('runs a waiting duplicate fresh when the call it waited for was aborted by its caller', async () => {
    const credit = 5_000_000;
    const { record } = await h.agent('gw-idem-abort', credit);
    const req = chat('dropped then retried', { pin: { model: 'glm-4.6' } });
    const offering = h.catalog.offerings().find((o) => o.modelId === 'glm-4.6')!;
    // Only the first request stalls after a few tokens; the retry gets a normal answer.
    const rule = h.fleet.inject({ providerId: offering.providerId, model: offering.upstreamModel, fault: { kind: 'stall_mid_stream', afterTokens: 5 }, times: 1 });
    try {
      const ac = new AbortController();
      let retry: Promise<RouteCallResult> | null = null;
      const first = await h.gateway.routeCall(record, req, {
        idempotencyKey: 'drop-1',
        signal: ac.signal,
        onDelta: () => {
          // A duplicate arrives while the first is still running (it waits for it), then the first caller leaves.
          retry ??= h.gateway.routeCall(record, req, { idempotencyKey: 'drop-1' });
          setTimeout(() => ac.abort(), 5);
        },
      });
      expect(first).toMatchObject({ type: 'AllAttemptsFailed', aborted: true });
      const r = ok(await retry!);
      expect(r.replayed).toBe(false);
      expect(r.decisionId).not.toBe((first as { decisionId: string }).decisionId);
      const [dropped] = await h.store.decisions.byIds([(first as { decisionId: string }).decisionId]);
      expect(dropped).toMatchObject({ outcome: 'failed', idempotencyKey: null });
      expect(await h.balance(record.id)).toBe(credit - dropped!.costMicros - r.costMicros);
      // The key now belongs to the retry: a third call replays it.
      const again = ok(await h.gateway.routeCall(record, req, { idempotencyKey: 'drop-1' }));
      expect([again.replayed, again.decisionId]).toEqual([true, r.decisionId]);
      // Same key, different request: still refused.
      expect(await h.gateway.routeCall(record, chat('something else'), { idempotencyKey: 'drop-1' })).toMatchObject({ type: 'ValidationError', field: 'idempotencyKey' });
    } finally {
      rule.remove();
    }
  });

  it('replays an idempotency key without calling again, and refuses the key for another request', async () => {
    const { record } = await h.agent('gw-idem', 5_000_000);
    const first = ok(await h.gateway.routeCall(record, chat('idempotent call'), { idempotencyKey: 'order-42' }));
    const calls = h.fleet.requests.length;
    const balance = await h.balance(record.id);
    const again = ok(await h.gateway.routeCall(record, chat('idempotent call'), { idempotencyKey: 'order-42' }));
    expect(again.replayed).toBe(true);
    expect(again.decisionId).toBe(first.decisionId);
    expect(again.content).toBe(first.content);
    expect(again.chainSeqs).toEqual(first.chainSeqs);
    // The decision comes back from its compact stored form exactly as the first call returned it.
    expect(again.decision).toEqual(JSON.parse(JSON.stringify(first.decision)));
    const [stored] = await h.store.decisions.byIds([first.decisionId]);
    const storedCandidates = (stored!.detail as DecisionDetail).decision!.candidates;
    expect(Array.isArray(storedCandidates)).toBe(false);
    expect(JSON.stringify(storedCandidates).length).toBeLessThan(JSON.stringify(first.decision.candidates).length / 2);
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(balance);

    const other = await h.gateway.routeCall(record, chat('a different request'), { idempotencyKey: 'order-42' });
    expect(other).toMatchObject({ type: 'ValidationError', field: 'idempotencyKey' });

    // Concurrent first use of one key: one call, one charge.
    const calls2 = h.fleet.requests.length;
    const pair = await Promise.all([0, 1].map(() => h.gateway.routeCall(record, chat('twice at once'), { idempotencyKey: 'order-43' })));
    const [a, b] = pair.map(ok);
    expect(a!.decisionId).toBe(b!.decisionId);
    expect(h.fleet.requests.length).toBe(calls2 + 1);
    // Keys are per agent: another agent's same key is its own call.
    const { record: other2 } = await h.agent('gw-idem-2', 5_000_000);
    const c = ok(await h.gateway.routeCall(other2, chat('idempotent call'), { idempotencyKey: 'order-42' }));
    expect(c.decisionId).not.toBe(first.decisionId);
  });
});

describe('idempotency across processes', () => {
  it('waits for a call another process is running with the same key, and refuses an abandoned one', async () => {
    const { record } = await h.agent('gw-idem-x', 5_000_000);
    const req = chat('shared key');
    const normalized = validateRouteRequest(req);
    if (!normalized.ok) throw new Error('test request must be valid');
    const hash = requestHash(normalized.request);
    const base = {
      agentId: record.id,
      taskType: 'chat',
      model: null,
      provider: null,
      outcome: 'pending' as const,
      holdMicros: 0,
      costMicros: 0,
      latencyMs: null,
      chainSeqs: [],
      feedback: null,
    };
    // Abandoned long ago by a crashed process: answered at once, nothing called.
    await h.store.decisions.insert({ ...base, id: 'd_stale', createdAt: new Date(Date.now() - 600_000).toISOString(), idempotencyKey: 'stale', detail: { v: 1, requestHash: hash, decision: null, message: null, result: null } });
    const calls = h.fleet.requests.length;
    expect(await h.gateway.routeCall(record, req, { idempotencyKey: 'stale' })).toMatchObject({ type: 'ValidationError', field: 'idempotencyKey' });

    // Running elsewhere right now: this call waits for its result instead of calling again.
    await h.store.decisions.insert({ ...base, id: 'd_running', createdAt: new Date().toISOString(), idempotencyKey: 'running', detail: { v: 1, requestHash: hash, decision: null, message: null, result: null } });
    const waiting = h.gateway.routeCall(record, req, { idempotencyKey: 'running' });
    await new Promise((r) => setTimeout(r, 120));
    const result: RouteCallResult = { type: 'InsufficientCredit', decisionId: 'd_running', requiredMicros: 5, balanceMicros: 1, message: 'm', chainSeqs: [], replayed: false };
    await h.store.decisions.update('d_running', { outcome: 'rejected', detail: { v: 1, requestHash: hash, decision: null, message: 'm', result } });
    expect(await waiting).toMatchObject({ type: 'InsufficientCredit', decisionId: 'd_running', replayed: true });
    expect(h.fleet.requests.length).toBe(calls);
  });
});

describe('idempotency across processes: a retry while the first call settles', () => {
  it('waits for the first call to finish rather than answering that it did not finish', async () => {
    const { record } = await h.agent('gw-idem-settling', 5_000_000);
    let inSettle!: () => void;
    const settling = new Promise<void>((r) => (inSettle = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // Process A stops between settling its decision and settling its hold (its stored result comes after).
    const storeA = storeWith({
      settleHold: async (...a: Parameters<AccountsStore['settleHold']>) => {
        inSettle();
        await released;
        return h.store.accounts.settleHold(...a);
      },
    });
    // Process B lets A go on only once it is waiting on A's record.
    let polls = 0;
    const storeB = storeWith(
      {},
      {
        byIds: async (ids) => {
          if (++polls === 2) release();
          return h.store.decisions.byIds(ids);
        },
      },
    );
    const gwA = createGateway({ store: storeA, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    const gwB = createGateway({ store: storeB, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    const a = gwA.routeCall(record, chat('same request'), { idempotencyKey: 'k-settling' });
    await settling;
    const b = await gwB.routeCall(record, chat('same request'), { idempotencyKey: 'k-settling' });
    const ra = ok(await a);
    expect(b).toMatchObject({ type: 'RouteSuccess', decisionId: ra.decisionId, replayed: true, costMicros: ra.costMicros });
  });
});

describe('idempotency across processes: losing the insert race', () => {
  const pendingWith = (id: string, agentId: string, key: string, requestHash: string): DecisionRecord =>
    pendingDecision(id, agentId, { idempotencyKey: key, detail: { v: 1, requestHash, decision: null, message: null, result: null } });
  const hashOf = (req: RouteRequest) => {
    const v = validateRouteRequest(req);
    if (!v.ok) throw new Error('test request must be valid');
    return requestHash(v.request);
  };

  it('runs fresh when the call that won the key in another process then ends aborted (key released)', async () => {
    const { record } = await h.agent('gw-idem-lost-race', 5_000_000);
    const req = chat('lost the insert race');
    let injected = false;
    let released = false;
    const store = storeWith(
      {},
      {
        // Another process inserts the key right after this call looked for it: this call's insert conflicts.
        byIdempotencyKey: async (agentId, key) => {
          if (!injected) {
            injected = true;
            await h.store.decisions.insert(pendingWith('d_other_proc', agentId, key, hashOf(req)));
            return null;
          }
          return h.store.decisions.byIdempotencyKey(agentId, key);
        },
        // While this call waits for it, that call's caller goes away: settled aborted, key released.
        byIds: async (ids) => {
          if (!released && ids.includes('d_other_proc')) {
            released = true;
            await h.store.decisions.updateIfPending('d_other_proc', { outcome: 'failed', idempotencyKey: null });
          }
          return h.store.decisions.byIds(ids);
        },
      },
    );
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    const r = ok(await gw.routeCall(record, req, { idempotencyKey: 'raced' }));
    expect([injected, released]).toEqual([true, true]);
    expect(r.replayed).toBe(false);
    expect(r.decisionId).not.toBe('d_other_proc');
    expect(await h.balance(record.id)).toBe(5_000_000 - r.costMicros);
    // The key now names the fresh run: a retry replays it.
    const again = ok(await h.gateway.routeCall(record, req, { idempotencyKey: 'raced' }));
    expect([again.replayed, again.decisionId]).toEqual([true, r.decisionId]);
    expect((await h.store.decisions.list({ agentId: record.id }, 10)).items.map((d) => d.id).sort()).toEqual(['d_other_proc', r.decisionId].sort());
  });

  it('gives up with the conflict after a bounded number of fresh runs, moving no money', async () => {
    const { record } = await h.agent('gw-idem-always-lost', 5_000_000);
    const req = chat('always lost');
    let thieves = 0;
    const store = storeWith(
      {},
      {
        // Every insert loses the key to another process's call, which its caller then abandons at once.
        insert: async (d) => {
          if (d.idempotencyKey !== 'contested') return h.store.decisions.insert(d);
          const thief = `d_thief_${++thieves}`;
          await h.store.decisions.insert(pendingWith(thief, d.agentId, d.idempotencyKey, hashOf(req)));
          try {
            await h.store.decisions.insert(d);
          } finally {
            await h.store.decisions.updateIfPending(thief, { outcome: 'failed', idempotencyKey: null });
          }
        },
      },
    );
    const calls = h.fleet.requests.length;
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    await expect(gw.routeCall(record, req, { idempotencyKey: 'contested' })).rejects.toMatchObject({ name: 'StoreConflictError', field: 'idempotencyKey' });
    expect(thieves).toBe(3);
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(5_000_000);
  });
});

describe('reportOutcome', () => {
  it('accepts feedback on own completed decisions only, once, and writes a feedback entry', async () => {
    const { record: alice } = await h.agent('fb-alice', 5_000_000);
    const { record: bob } = await h.agent('fb-bob', 5_000_000);
    const r = ok(await h.gateway.routeCall(alice, chat('judge me')));
    await expect(h.gateway.reportOutcome(bob, r.decisionId, false, null)).rejects.toBeInstanceOf(ForeignDecisionError);
    await expect(h.gateway.reportOutcome(alice, 'd_nope', true)).rejects.toBeInstanceOf(DecisionNotFoundError);
    const res = await h.gateway.reportOutcome(alice, r.decisionId, false, 'wrong answer SECRET-REASON');
    expect(res).toMatchObject({ decisionId: r.decisionId, model: r.model, success: false });
    await expect(h.gateway.reportOutcome(alice, r.decisionId, true)).rejects.toBeInstanceOf(FeedbackAlreadyGivenError);
    const entry = (await entriesOf(r.decisionId)).find((e) => e.kind === 'feedback')!;
    expect(entry).toMatchObject({ seq: res.chainSeq, model: r.model, success: 0, agent: 'fb-alice' });
    const [d] = await h.store.decisions.byIds([r.decisionId]);
    expect(d?.feedback).toMatchObject({ success: false, reason: 'wrong answer SECRET-REASON' });
    expect(d?.chainSeqs).toContain(res.chainSeq);
    expect((await h.chainText()).join('\n')).not.toContain('SECRET-REASON');

    const refused = await h.gateway.routeCall(alice, chat('nope', { caps: { costCeilingMicros: 1 } }));
    await expect(h.gateway.reportOutcome(alice, (refused as { decisionId: string }).decisionId, true)).rejects.toBeInstanceOf(NoModelAnsweredError);
  });

  it('negative feedback changes a later pick', async () => {
    const { record } = await h.agent('fb-learn', 50_000_000);
    const base = chat('Summarize: the quick brown fox jumps over the lazy dog.', { taskType: 'summarization' });
    const plan = firstPick(base);
    const picked = plan.attempts[0]!;
    // A bar just under the first pick's finish probability: it clears it now, and a few failures sink it.
    const bar = picked.finishProbability - 0.005;
    const req: RouteRequest = { ...base, caps: { minFinishProbability: bar } };
    const before = ok(await h.gateway.routeCall(record, req));
    expect(before.model).toBe(picked.modelId);
    await h.gateway.reportOutcome(record, before.decisionId, false, null);
    // More answers from the same model (pinned, no bar), each judged a failure by the caller.
    for (let i = 0; i < 3; i++) {
      const r = ok(await h.gateway.routeCall(record, { ...base, pin: { model: picked.modelId } }));
      await h.gateway.reportOutcome(record, r.decisionId, false, 'did not finish');
    }
    const after = ok(await h.gateway.routeCall(record, req));
    expect(after.model).not.toBe(picked.modelId);
    const refusal = after.decision.candidates.find((c) => c.modelId === picked.modelId && c.providerId === picked.providerId)!;
    expect(refusal.refusals.map((x) => x.kind)).toContain('below_bar');
  });
});

describe('privacy', () => {
  it('puts no prompt text on the chain', async () => {
    const { record } = await h.agent('gw-private', 5_000_000);
    const marker = `MARKER-${Math.random().toString(36).slice(2)}-UNIQUE`;
    ok(await h.gateway.routeCall(record, { messages: [{ role: 'system', content: `sys ${marker}` }, { role: 'user', content: `tell me about ${marker}` }], maxOutputTokens: 32 }));
    await h.gateway.routeCall(record, chat(`refused ${marker}`, { caps: { costCeilingMicros: 1 } }));
    const text = (await h.chainText()).join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(marker);
    expect(text).not.toContain('tell me about');
  });
});

/** A proxy of `target` with some methods replaced (the others bound to the real object). */
function overriding<T extends object>(target: T, over: Partial<T>): T {
  return new Proxy(target, {
    get(t, k) {
      const o = (over as Record<PropertyKey, unknown>)[k];
      if (o) return o;
      const v = Reflect.get(t, k) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** The harness store with some accounts (and decisions) methods replaced (everything else is the real SQLite store). */
function storeWith(accounts: Partial<AccountsStore>, decisions: Partial<DecisionsStore> = {}): Store {
  return overriding(h.store, { accounts: overriding(h.store.accounts, accounts), decisions: overriding(h.store.decisions, decisions) });
}

/** The harness store recording the name of every write method called, in order. */
function recordingWrites(): { store: Store; writes: string[] } {
  const writes: string[] = [];
  const wrap = <T extends object>(area: string, target: T, names: (keyof T & string)[]): Partial<T> =>
    Object.fromEntries(
      names.map((n) => [
        n,
        (...args: unknown[]) => {
          writes.push(`${area}.${n}`);
          return (target[n] as (...a: unknown[]) => unknown).apply(target, args);
        },
      ]),
    ) as Partial<T>;
  const store = storeWith(
    wrap('accounts', h.store.accounts, ['credit', 'hold', 'settleHold']),
    wrap('decisions', h.store.decisions, ['insert', 'update', 'updateIfPending']),
  );
  return { store, writes };
}

describe('durability on the call path', () => {
  it('calls the provider without waiting for the pre-call entries to be durable, and answers only once every entry is', async () => {
    const { record } = await h.agent('gw-durable-order', 5_000_000);
    const order: string[] = [];
    // An appender that commits in a later macrotask (as a real one does once it batches), where a commit
    // blocks the thread (a synchronous SQLite fsync): whatever runs before it does not wait for the disk.
    const appender = {
      append: (e: Parameters<typeof h.appender.append>[0]) =>
        new Promise<Awaited<ReturnType<typeof h.appender.append>>>((resolve, reject) => {
          setImmediate(() => {
            order.push(`commit ${e.kind}`);
            h.appender.append(e).then((env) => {
              order.push(`durable ${e.kind}`);
              resolve(env);
            }, reject);
          });
        }),
      commitNow: () => h.appender.commitNow(),
    };
    const execute: typeof h.executor.execute = (args) => {
      order.push('provider call');
      return h.executor.execute(args);
    };
    const gw = createGateway({ store: h.store, appender, router: h.router, signals: h.signals, execute });
    const r = await gw.routeCall(record, chat('durability order'));
    order.push('answered');
    expect(r.type).toBe('RouteSuccess');
    expect(order.indexOf('provider call')).toBeLessThan(order.indexOf('commit request'));
    // The answer comes after every entry of the call is durable, and names them all.
    const durable = order.filter((o) => o.startsWith('durable '));
    const stored = await h.store.chain.entriesOfDecision((r as RouteSuccess).decisionId);
    expect(durable.sort()).toEqual(stored.map((e) => `durable ${e.kind}`).sort());
    expect(durable).toContain('durable request');
    expect(order.at(-1)).toBe('answered');
    const seqs = (r as RouteSuccess).chainSeqs;
    expect(seqs).toHaveLength(durable.length);
    for (const seq of seqs) expect(await h.store.chain.entry(seq)).not.toBeNull();
  });

  it("writes all of a call's entries in one durable chain write (one fsync) when nothing else forces a commit", async () => {
    const { record } = await h.agent('gw-one-commit', 5_000_000);
    const writes: number[] = [];
    const chain = Object.create(h.store.chain) as typeof h.store.chain;
    chain.append = async (after, rows) => {
      writes.push(rows.length);
      return h.store.chain.append(after, rows);
    };
    const keys = loadSigningKeys({ dataDir: h.dir, create: false, env: {}, origin: 'test.ainfera/chain' });
    // A linger longer than the test: only the call asking for its entries can have committed them.
    const appender = await ChainAppender.open({ chain, keys, checkpointIntervalMs: 0, signingWorkers: 0, lingerMs: 600_000 });
    try {
      const gw = createGateway({ store: h.store, appender, router: h.router, signals: h.signals, execute: h.executor.execute });
      const r = await gw.routeCall(record, chat('one commit'));
      expect(r.type).toBe('RouteSuccess');
      const seqs = (r as RouteSuccess).chainSeqs;
      expect(seqs.length).toBeGreaterThanOrEqual(5); // request, debited, routed, provider_ok, completed, refunded
      expect(writes).toEqual([seqs.length]);
      const kinds = (await h.store.chain.entriesOfDecision((r as RouteSuccess).decisionId)).map((e) => e.kind);
      expect(kinds[0]).toBe('request');
      expect(kinds.at(-1)).toBe('refunded');
    } finally {
      await appender.close();
    }
  });
});

describe('settling a hold exactly once', () => {
  it('writes the store five times per call, settling the decision before its hold (so every crash point is recoverable)', async () => {
    const { record } = await h.agent('gw-writes', 5_000_000);
    const { store, writes } = recordingWrites();
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    const r = ok(await gw.routeCall(record, chat('count the writes')));
    // No write records the hold on the decision (the ledger has it), and no separate release.
    expect(writes).toEqual(['decisions.insert', 'accounts.hold', 'decisions.updateIfPending', 'accounts.settleHold', 'decisions.update']);
    expect(await h.balance(record.id)).toBe(5_000_000 - r.costMicros);
    expect(await h.store.accounts.openHolds('2999-01-01T00:00:00.000Z', 1000)).not.toContainEqual(expect.objectContaining({ decisionId: r.decisionId }));
    const [d] = await h.store.decisions.byIds([r.decisionId]);
    expect(d).toMatchObject({ outcome: 'completed', holdMicros: r.holdMicros, costMicros: r.costMicros });
  });

  it('settles money only once every entry of the call, its refunded entry included, is durable', async () => {
    const { record } = await h.agent('gw-chain-first', 5_000_000);
    const { store, writes } = recordingWrites();
    const appender = {
      append: (e: Parameters<typeof h.appender.append>[0], o?: Parameters<typeof h.appender.append>[1]) =>
        h.appender.append(e, o).then((env) => {
          writes.push(`durable ${e.kind}`);
          return env;
        }),
      commitNow: () => h.appender.commitNow(),
    };
    const gw = createGateway({ store, appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    const r = ok(await gw.routeCall(record, chat('chain before money')));
    const settleAt = writes.indexOf('decisions.updateIfPending');
    const lastDurable = writes.findLastIndex((w) => w.startsWith('durable '));
    expect(writes.filter((w) => w.startsWith('durable ')).sort()).toEqual(
      ['durable completed', 'durable debited', 'durable provider_ok', 'durable refunded', 'durable request', 'durable routed'].sort(),
    );
    expect(settleAt).toBeGreaterThan(lastDurable);
    expect(writes.indexOf('accounts.settleHold')).toBeGreaterThan(settleAt);
    const refunded = (await entriesOf(r.decisionId)).find((e) => e.kind === 'refunded')!;
    expect(refunded).toMatchObject({ holdMicros: r.holdMicros, costMicros: r.costMicros, refundMicros: r.holdMicros - r.costMicros });
  });

  it('reports the wall time of each phase of a call once, in order; a refused call only the phases it reached', async () => {
    const { record } = await h.agent('gw-phases', 5_000_000);
    const seen: [string, number][] = [];
    const r = ok(await h.gateway.routeCall(record, chat('phases'), { onPhase: (p, ms) => seen.push([p, ms]) }));
    expect(seen.map(([p]) => p)).toEqual([...ROUTE_PHASES]);
    for (const [, ms] of seen) expect(ms).toBeGreaterThanOrEqual(0);
    // The provider phase holds the provider's answer (the fleet reports its own latency inside it).
    expect(seen.find(([p]) => p === 'provider')![1]).toBeGreaterThanOrEqual(r.decision.attempts.at(-1)!.latencyMs - 1);
    const { record: poor } = await h.agent('gw-phases-poor', 0);
    const refused: string[] = [];
    expect((await h.gateway.routeCall(poor, chat('no money'), { onPhase: (p) => refused.push(p) })).type).toBe('InsufficientCredit');
    expect(refused).toEqual(['admit', 'plan']);
  });

  it('moves no money when an entry of the call could not be made durable; the sweep gives the hold back and says so', async () => {
    const { record } = await h.agent('gw-chain-fails', 5_000_000);
    const appender = {
      append: (e: Parameters<typeof h.appender.append>[0], o?: Parameters<typeof h.appender.append>[1]) =>
        e.kind === 'refunded' ? Promise.reject(new Error('disk full')) : h.appender.append(e, o),
      commitNow: () => h.appender.commitNow(),
    };
    const gw = createGateway({ store: h.store, appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    await expect(gw.routeCall(record, chat('the chain fails'))).rejects.toThrow(/could not all be made durable/);
    await gw.drain();
    const [d] = (await h.store.decisions.list({ agentId: record.id }, 1)).items;
    expect(d).toMatchObject({ outcome: 'pending', costMicros: 0 });
    const [hold] = (await h.store.accounts.openHolds('2999-01-01T00:00:00.000Z', 1000)).filter((x) => x.decisionId === d!.id);
    expect(hold).toBeDefined();
    expect(await h.balance(record.id)).toBe(5_000_000 - hold!.micros);
    const later = () => Date.now() + 10 * 60_000;
    expect(await sweepAbandoned({ store: h.store, appender: h.appender, olderThanMs: 60_000, now: later })).toMatchObject({ releasedMicros: expect.any(Number) });
    expect(await h.balance(record.id)).toBe(5_000_000);
    const refunded = (await entriesOf(d!.id)).filter((e) => e.kind === 'refunded');
    expect(refunded).toEqual([expect.objectContaining({ costMicros: 0, refundMicros: hold!.micros, reason: RECOVERED_REASON })]);
  });

  it('leaves a decision the chain already settled to the sweep when it cannot write that settlement, never settling it at 0', async () => {
    const { record } = await h.agent('gw-settle-write-fails', 5_000_000);
    const store = storeWith(
      {},
      {
        updateIfPending: async (id, patch) => {
          if (patch.outcome === 'completed') throw new Error('store unavailable');
          return h.store.decisions.updateIfPending(id, patch);
        },
      },
    );
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    await expect(gw.routeCall(record, chat('settle write fails'))).rejects.toThrow(/store unavailable/);
    await gw.drain();
    const [d] = (await h.store.decisions.list({ agentId: record.id }, 1)).items;
    expect(d).toMatchObject({ outcome: 'pending' });
    const said = (await entriesOf(d!.id)).filter((e) => e.kind === 'refunded');
    expect(said).toHaveLength(1);
    const charge = said[0]!.costMicros as number;
    expect(charge).toBeGreaterThan(0);
    const later = () => Date.now() + 10 * 60_000;
    await sweepAbandoned({ store: h.store, appender: h.appender, olderThanMs: 60_000, now: later });
    const [after] = await h.store.decisions.byIds([d!.id]);
    expect(after).toMatchObject({ outcome: 'completed', costMicros: charge });
    expect(await h.balance(record.id)).toBe(5_000_000 - charge);
    expect((await entriesOf(d!.id)).filter((e) => e.kind === 'refunded')).toHaveLength(1);
  });

  it('a hold settle that went through but reported an error moves no money twice, and the call fails', async () => {
    const { record } = await h.agent('gw-settle-err', 5_000_000);
    const settles: boolean[] = [];
    const store = storeWith({
      settleHold: async (agentId: string, decisionId: string, charge: number) => {
        const r = await h.store.accounts.settleHold(agentId, decisionId, charge);
        settles.push(r.settled);
        if (settles.length === 1) throw new Error('connection reset after the write committed');
        return r;
      },
    });
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    await expect(gw.routeCall(record, chat('settle reports an error'))).rejects.toThrow(/connection reset/);
    await gw.drain();
    // The call settled it again with the same charge after the error: the ledger refused the repeat.
    expect(settles).toEqual([true, false]);
    const { items } = await h.store.decisions.list({ agentId: record.id }, 5);
    expect(items).toHaveLength(1);
    const d = items[0]!;
    expect(d).toMatchObject({ outcome: 'completed' });
    expect(d.costMicros).toBeGreaterThan(0);
    expect(d.holdMicros).toBeGreaterThan(d.costMicros);
    // Charged exactly the answer: the refund happened once, not once more as a whole hold.
    expect(await h.balance(record.id)).toBe(5_000_000 - d.costMicros);
  });

  it('a call whose decision a recovery sweep claimed first moves no money and leaves the hold to the sweep', async () => {
    const { record } = await h.agent('gw-swept', 5_000_000);
    // The sweep's claim lands while the provider call runs (a call that outlived its deadline).
    const store = storeWith(
      {},
      {
        updateIfPending: async (id, patch) => {
          if (patch.outcome === 'completed') {
            const claimed = await h.store.decisions.updateIfPending(id, { outcome: 'failed', costMicros: 0 });
            expect(claimed).not.toBeNull();
            expect(await h.store.accounts.settleHold(record.id, id, 0)).toMatchObject({ settled: true });
          }
          return h.store.decisions.updateIfPending(id, patch);
        },
      },
    );
    const gw = createGateway({ store, appender: h.appender, router: h.router, signals: h.signals, execute: h.executor.execute });
    await expect(gw.routeCall(record, chat('swept from under the call'))).rejects.toThrow(/settled by another process/);
    await gw.drain();
    expect(await h.balance(record.id)).toBe(5_000_000);
    const { items } = await h.store.decisions.list({ agentId: record.id }, 5);
    expect(items.map((d) => [d.outcome, d.costMicros])).toEqual([['failed', 0]]);
    // The call had said its settlement on the chain before trying to settle (it always does, so no money
    // moves unrecorded); only a sweep overtaking a call long past its deadline, before that entry was
    // durable, can disagree with it - the real sweep reads the chain first (recovery.ts).
    expect((await entriesOf(items[0]!.id)).filter((e) => e.kind === 'refunded')).toHaveLength(1);
  });

  it('moves no money when the appender refuses the request entry', async () => {
    const { record } = await h.agent('gw-chain-refuses', 5_000_000);
    const keys = loadSigningKeys({ dataDir: h.dir, create: true, env: {}, origin: 'test.ainfera/chain' });
    const closed = await ChainAppender.open({ chain: h.store.chain, keys, checkpointIntervalMs: 0, signingWorkers: 0 });
    await closed.close();
    let holds = 0;
    let calls = 0;
    const store = storeWith({
      hold: async (...args: Parameters<AccountsStore['hold']>) => {
        holds++;
        return h.store.accounts.hold(...args);
      },
    });
    const gw = createGateway({ store, appender: closed, router: h.router, signals: h.signals, execute: async () => { calls++; return { ok: false, attempts: [] }; } });
    await expect(gw.routeCall(record, chat('chain closed'))).rejects.toBeInstanceOf(ChainClosedError);
    await gw.drain();
    expect(holds).toBe(0);
    expect(calls).toBe(0);
    expect(await h.balance(record.id)).toBe(5_000_000);
    const { items } = await h.store.decisions.list({ agentId: record.id }, 5);
    expect(items.map((d) => d.outcome)).toEqual(['failed']);

    // The same refusal behind an async wrapper (a tracing or metrics proxy) arrives a few microtasks
    // later: still no hold, no provider call.
    const wrapped = { append: async (e: Parameters<typeof closed.append>[0]) => closed.append(e), commitNow: () => closed.commitNow() };
    const gw2 = createGateway({ store, appender: wrapped, router: h.router, signals: h.signals, execute: async () => { calls++; return { ok: false, attempts: [] }; } });
    await expect(gw2.routeCall(record, chat('chain closed, wrapped'))).rejects.toBeInstanceOf(ChainClosedError);
    await gw2.drain();
    expect(holds).toBe(0);
    expect(calls).toBe(0);
    expect(await h.balance(record.id)).toBe(5_000_000);
  });
});
