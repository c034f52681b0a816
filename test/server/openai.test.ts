// The OpenAI-compatible endpoint over a real socket, driven by the official `openai` client unchanged.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanOk, RouteRequest } from '../../src/routing/types.js';
import type { DecisionDetail } from '../../src/gateway/gateway.js';
import type { DecisionRecord } from '../../src/store/port.js';
import { parsedCanonical, startHarness, type Harness } from '../gateway/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await h?.close();
});

function client(apiKey: string): OpenAI {
  // No client-side retries: each test counts provider calls and charges exactly.
  return new OpenAI({ apiKey, baseURL: h.baseURL, maxRetries: 0 });
}

function firstPick(req: RouteRequest): PlanOk {
  const plan = h.router.plan(req, { now: Date.now() });
  if (!plan.ok) throw new Error('expected an eligible plan');
  return plan;
}

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('expected an APIError');
}

type Ainfera = { ainfera?: Record<string, unknown> };

describe('POST /v1/chat/completions with the openai client', () => {
  it('answers non-streaming in OpenAI format, with the answering model and decision headers', async () => {
    const { record, apiKey } = await h.agent('oa-plain', 5_000_000);
    const { data, response } = await client(apiKey)
      .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hello from the openai client' }], max_tokens: 48 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(h.catalog.model(data.model)).toBeDefined();
    const choice = data.choices[0]!;
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.content?.length).toBeGreaterThan(0);
    expect(choice.finish_reason).toBeTruthy();
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);

    const decisionId = response.headers.get('x-ainfera-decision-id')!;
    const seqs = response.headers.get('x-ainfera-chain-seqs')!.split(',').map(Number);
    const [d] = await h.store.decisions.byIds([decisionId]);
    expect(d).toMatchObject({ agentId: record.id, model: data.model, outcome: 'completed', chainSeqs: seqs });
    expect(await h.balance(record.id)).toBe(5_000_000 - d!.costMicros);
    expect(response.headers.get('x-ainfera-simulated')).toBe('true');
    expect((data as unknown as Ainfera).ainfera).toMatchObject({ decisionId, costMicros: d!.costMicros });
  });

  it('streams SSE chunks with a final usage chunk, then [DONE]', async () => {
    const { record, apiKey } = await h.agent('oa-stream', 5_000_000);
    const { data: stream, response } = await client(apiKey)
      .chat.completions.create({
        model: 'auto',
        messages: [{ role: 'user', content: 'Stream a short answer please' }],
        max_tokens: 48,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const decisionId = response.headers.get('x-ainfera-decision-id')!;
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    const models = new Set<string>();
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      models.add(chunk.model);
      const c = chunk.choices[0];
      if (c?.delta.content) text += c.delta.content;
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBeTruthy();
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(models.size).toBe(1);
    const [d] = await h.store.decisions.byIds([decisionId]);
    expect(d).toMatchObject({ agentId: record.id, outcome: 'completed', model: [...models][0] });
  });

  it('pins by model id and names the pinned model', async () => {
    const { apiKey } = await h.agent('oa-pin', 5_000_000);
    const calls = h.fleet.count();
    const data = await client(apiKey).chat.completions.create({ model: 'glm-4.6', messages: [{ role: 'user', content: 'pinned' }], max_tokens: 16 });
    expect(data.model).toBe('glm-4.6');
    expect(h.fleet.requests.slice(calls).map((r) => r.model)).toContain(h.catalog.offerings().find((o) => o.modelId === 'glm-4.6')!.upstreamModel);
    const unknown = await apiError(client(apiKey).chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }));
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe('model_not_found');
    expect(unknown.param).toBe('model');
  });

  it('refuses a call no model fits inside the caps, with reasons per candidate', async () => {
    const { record, apiKey } = await h.agent('oa-caps', 5_000_000);
    const body = { model: 'auto', messages: [{ role: 'user' as const, content: 'too cheap' }], ainfera: { costCeilingMicros: 1 } };
    const err = await apiError(client(apiKey).chat.completions.create(body));
    expect(err.status).toBe(422);
    expect(err.code).toBe('no_eligible_model');
    const extra = (err.error as { ainfera: { candidates: { model: string; reasons: { kind: string; message: string }[] }[]; decisionId: string } }).ainfera;
    expect(extra.candidates.length).toBeGreaterThan(1);
    for (const c of extra.candidates) expect(c.reasons.length).toBeGreaterThan(0);
    expect(extra.candidates.flatMap((c) => c.reasons.map((r) => r.kind))).toContain('over_cost_cap');
    expect(err.headers?.get('x-ainfera-decision-id')).toBe(extra.decisionId);
    expect(await h.balance(record.id)).toBe(5_000_000);
  });

  it('falls back after a provider 429 and reports the model that answered', async () => {
    const { apiKey } = await h.agent('oa-fallback', 5_000_000);
    const req: RouteRequest = { messages: [{ role: 'user', content: 'fall back' }], maxOutputTokens: 32, taskType: 'chat' };
    const first = firstPick(req).attempts[0]!;
    const rule = h.fleet.inject({ providerId: first.providerId, model: first.upstreamModel, fault: { kind: 'rate_limit', retryAfterSeconds: 60 } });
    try {
      const body = { model: 'auto', messages: [{ role: 'user' as const, content: 'fall back' }], max_tokens: 32, ainfera: { taskType: 'chat' } };
      const { data, response } = await client(apiKey).chat.completions.create(body).withResponse();
      expect(rule.hits).toBeGreaterThan(0);
      expect(`${response.headers.get('x-ainfera-provider')}/${data.model}`).not.toBe(`${first.providerId}/${first.modelId}`);
      expect((data as unknown as Ainfera).ainfera?.attempts).toBeGreaterThanOrEqual(2);
    } finally {
      rule.remove();
    }
  });

  it('answers 402 InsufficientCredit before any provider is called', async () => {
    const { apiKey } = await h.agent('oa-broke', 0);
    const calls = h.fleet.requests.length;
    const err = await apiError(client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'no money' }] }));
    expect(err.status).toBe(402);
    expect(err.code).toBe('insufficient_credit');
    expect(h.fleet.requests.length).toBe(calls);
    const streamErr = await apiError(
      (async () => {
        const s = await client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'no money' }], stream: true });
        for await (const _ of s) void _;
      })(),
    );
    expect(streamErr.status).toBe(402);
    expect(h.fleet.requests.length).toBe(calls);
  });

  it('keeps the balance non-negative under concurrent calls; charges equal credit minus balance', async () => {
    const req: RouteRequest = { messages: [{ role: 'user', content: 'race' }], maxOutputTokens: 32, pin: { model: 'glm-4.6' } };
    const hold = Math.max(...firstPick(req).attempts.map((c) => c.worstCaseCostMicros));
    const credit = hold * 2 + Math.floor(hold / 3);
    const { record, apiKey } = await h.agent('oa-race', credit);
    const c = client(apiKey);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        c.chat.completions
          .create({ model: 'glm-4.6', messages: [{ role: 'user', content: 'race' }], max_tokens: 32 })
          .withResponse()
          .then(({ response }) => ({ status: 200, cost: Number(response.headers.get('x-ainfera-cost-micros')) }))
          .catch((e: unknown) => ({ status: (e as { status: number }).status, cost: 0 })),
      ),
    );
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status === 402).length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.status === 200 || o.status === 402)).toBe(true);
    const final = await h.balance(record.id);
    expect(final).toBeGreaterThanOrEqual(0);
    expect(outcomes.reduce((s, o) => s + o.cost, 0)).toBe(credit - final);
  });

  it('refuses missing and wrong keys with 401', async () => {
    const noKey = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    const bad = await apiError(client('ak_' + 'A'.repeat(43)).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }] }));
    expect(bad.status).toBe(401);
    expect(bad).toBeInstanceOf(OpenAI.AuthenticationError);
    const garbage = await apiError(client('sk-not-ours').chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }] }));
    expect(garbage.status).toBe(401);
  });

  it('replays an Idempotency-Key without calling the provider again', async () => {
    const { record, apiKey } = await h.agent('oa-idem', 5_000_000);
    const c = client(apiKey);
    const params = { model: 'auto', messages: [{ role: 'user' as const, content: 'once only' }], max_tokens: 24 };
    const first = await c.chat.completions.create(params, { headers: { 'Idempotency-Key': 'job-7' } }).withResponse();
    const calls = h.fleet.requests.length;
    const balance = await h.balance(record.id);
    const again = await c.chat.completions.create(params, { headers: { 'Idempotency-Key': 'job-7' } }).withResponse();
    expect(again.response.headers.get('x-ainfera-decision-id')).toBe(first.response.headers.get('x-ainfera-decision-id'));
    expect(again.response.headers.get('x-ainfera-replayed')).toBe('true');
    expect(again.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
    expect(h.fleet.requests.length).toBe(calls);
    expect(await h.balance(record.id)).toBe(balance);
  });

  it('names the bad parameter in a 400 and changes nothing', async () => {
    const { record, apiKey } = await h.agent('oa-bad', 5_000_000);
    const c = client(apiKey);
    const before = (await h.chainText()).length;
    const e1 = await apiError(c.chat.completions.create({ model: 'auto', messages: [] }));
    expect([e1.status, e1.param]).toEqual([400, 'messages']);
    const e2 = await apiError(c.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], max_tokens: -3 }));
    expect([e2.status, e2.param]).toEqual([400, 'max_tokens']);
    const e3 = await apiError(c.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], n: 3 }));
    expect([e3.status, e3.param]).toEqual([400, 'n']);
    const body = { model: 'auto', messages: [{ role: 'user' as const, content: 'x' }], ainfera: { latencyTargetMs: 'fast' } };
    const e4 = await apiError(c.chat.completions.create(body));
    expect([e4.status, e4.param]).toEqual([400, 'ainfera.latencyTargetMs']);
    expect((await h.chainText()).length).toBe(before);
    expect(await h.balance(record.id)).toBe(5_000_000);
  });

  it('refuses an oversized body with 413', async () => {
    const { apiKey } = await h.agent('oa-big', 5_000_000);
    const err = await apiError(client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] }));
    expect(err.status).toBe(413);
  });

  it('aborts the provider call when the client goes away', async () => {
    const { record, apiKey } = await h.agent('oa-abort', 5_000_000);
    const offering = h.catalog.offerings().find((o) => o.modelId === 'glm-4.6')!;
    const rule = h.fleet.inject({ providerId: offering.providerId, model: offering.upstreamModel, fault: { kind: 'slow_first_token', delayMs: 20_000 } });
    try {
      const ac = new AbortController();
      const p = fetch(`${h.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ model: 'glm-4.6', messages: [{ role: 'user', content: 'slow' }], stream: true }),
        signal: ac.signal,
      }).catch((e: unknown) => e);
      // Wait until the provider has the request, then hang up.
      while (rule.hits === 0) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      await p;
      let d;
      for (let i = 0; i < 200; i++) {
        d = (await h.store.decisions.list({ agentId: record.id }, 1)).items[0];
        if (d && isFinished(d)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(d?.outcome).toBe('failed');
      expect(JSON.stringify(d?.detail)).toContain('aborted');
      // The provider had the request: the estimated input is billed (no output was forwarded), within the hold.
      expect(d!.costMicros).toBeGreaterThan(0);
      expect(d!.costMicros).toBeLessThanOrEqual(d!.holdMicros);
      expect(await h.balance(record.id)).toBe(5_000_000 - d!.costMicros);
    } finally {
      rule.remove();
    }
  });

  it('bills a caller who disconnects mid-stream for the output it received, within the hold', async () => {
    const credit = 5_000_000;
    const { record, apiKey } = await h.agent('oa-abort-paid', credit);
    const rule = stallGlm(5);
    try {
      const chars = await abortMidStream(apiKey, { model: 'glm-4.6', messages: [{ role: 'user', content: 'write me a long story' }], stream: true });
      expect(chars).toBeGreaterThan(0);
      const d = await settledDecision(record.id);
      expect(d.outcome).toBe('failed');
      const balance = await h.balance(record.id);
      expect(balance).toBeLessThan(credit);
      expect(credit - balance).toBeLessThanOrEqual(d.holdMicros);
      expect(credit - balance).toBe(d.costMicros);
      const entries = parsedCanonical(await h.chainText()).filter((e) => e.decision === d.id);
      const refunded = entries.find((e) => e.kind === 'refunded')!;
      expect(refunded).toMatchObject({ holdMicros: d.holdMicros, costMicros: d.costMicros, refundMicros: d.holdMicros - d.costMicros });
      const aborted = entries.find((e) => e.kind === 'provider_error' && e.errorClass === 'aborted')!;
      expect(Number.isSafeInteger(aborted.costMicros)).toBe(true);
      expect(aborted.costMicros).toBe(d.costMicros);
      expect(aborted.outputTokens).toBeGreaterThan(0);
      const attempts = (d.detail as DecisionDetail).decision!.attempts;
      expect(attempts.find((a) => a.errorClass === 'aborted')?.costMicros).toBe(d.costMicros);
    } finally {
      rule.remove();
    }
  });

  it('runs a retry with the same Idempotency-Key fresh after the first call was dropped', async () => {
    const credit = 5_000_000;
    const { record, apiKey } = await h.agent('oa-abort-retry', credit);
    const params = { model: 'glm-4.6', messages: [{ role: 'user' as const, content: 'retry me after a drop' }], max_tokens: 48 };
    const rule = stallGlm(5);
    let dropped: DecisionRecord;
    try {
      await abortMidStream(apiKey, { ...params, stream: true }, { 'Idempotency-Key': 'job-drop' });
      dropped = await settledDecision(record.id);
    } finally {
      rule.remove();
    }
    expect(dropped.outcome).toBe('failed');
    const calls = h.fleet.requests.length;
    const { data, response } = await client(apiKey).chat.completions.create(params, { headers: { 'Idempotency-Key': 'job-drop' } }).withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ainfera-replayed')).not.toBe('true');
    const decisionId = response.headers.get('x-ainfera-decision-id')!;
    expect(decisionId).not.toBe(dropped.id);
    expect(data.choices[0]!.message.content?.length).toBeGreaterThan(0);
    expect(h.fleet.requests.length).toBe(calls + 1);
    const [fresh] = await h.store.decisions.byIds([decisionId]);
    expect(fresh).toMatchObject({ outcome: 'completed', idempotencyKey: 'job-drop' });
    // Charged once for the retry, plus what the dropped call had used.
    expect(await h.balance(record.id)).toBe(credit - dropped.costMicros - fresh!.costMicros);
    // The key now replays the retry's answer.
    const again = await client(apiKey).chat.completions.create(params, { headers: { 'Idempotency-Key': 'job-drop' } }).withResponse();
    expect(again.response.headers.get('x-ainfera-replayed')).toBe('true');
    expect(again.response.headers.get('x-ainfera-decision-id')).toBe(decisionId);
    expect(h.fleet.requests.length).toBe(calls + 1);
  });
});

/** Streams a little of glm-4.6's answer, then holds the connection silent (a slow stream). */
function stallGlm(afterTokens: number): { remove(): void; hits: number } {
  const offering = h.catalog.offerings().find((o) => o.modelId === 'glm-4.6')!;
  return h.fleet.inject({ providerId: offering.providerId, model: offering.upstreamModel, fault: { kind: 'stall_mid_stream', afterTokens } });
}

/** Starts a streamed call, reads until some content arrived, then hangs up. Returns the content characters read. */
async function abortMidStream(apiKey: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(`${h.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...headers },
    body: JSON.stringify(body),
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let chars = 0;
  while (chars === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended before any content');
    text += decoder.decode(value, { stream: true });
    const events = text.split('\n\n');
    text = events.pop()!;
    for (const ev of events) {
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const chunk = JSON.parse(ev.slice(6)) as { choices?: { delta?: { content?: string } }[] };
      chars += chunk.choices?.[0]?.delta?.content?.length ?? 0;
    }
  }
  ac.abort();
  await reader.cancel().catch(() => undefined);
  return chars;
}

/**
 * The call is over: settled (not pending), its hold given back, and its final record written (latency,
 * detail, chain seqs come last, once its chain entries are durable).
 */
function isFinished(d: DecisionRecord): boolean {
  return d.outcome !== 'pending' && d.latencyMs !== null;
}

/** The agent's newest decision once its call is over. */
async function settledDecision(agentId: string): Promise<DecisionRecord> {
  for (let i = 0; i < 250; i++) {
    const d = (await h.store.decisions.list({ agentId }, 1)).items[0];
    if (d && isFinished(d)) return d;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the decision did not settle');
}

describe('tools, stream endings and failures', () => {
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    },
  ];

  it('returns tool calls in OpenAI format, streaming and not', async () => {
    const { apiKey } = await h.agent('oa-tools', 5_000_000);
    const c = client(apiKey);
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const data = await c.chat.completions.create({ model: 'auto', messages, tools, tool_choice: 'required', max_tokens: 64 });
    const call = data.choices[0]!.message.tool_calls?.[0];
    expect(data.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') return;
    expect(call.function.name).toBe('get_weather');
    expect(() => JSON.parse(call.function.arguments) as unknown).not.toThrow();

    const stream = await c.chat.completions.create({ model: 'auto', messages, tools, tool_choice: 'required', max_tokens: 64, stream: true });
    const calls: { name?: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      for (const t of ch?.delta.tool_calls ?? []) {
        const slot = (calls[t.index] ??= { args: '' });
        if (t.function?.name) slot.name = t.function.name;
        slot.args += t.function?.arguments ?? '';
      }
      if (ch?.finish_reason) finish = ch.finish_reason;
    }
    expect(finish).toBe('tool_calls');
    expect(calls[0]?.name).toBe('get_weather');
    expect(() => JSON.parse(calls[0]!.args) as unknown).not.toThrow();
  });

  it('ends a stream with the chain seqs of the decision in the final chunk', async () => {
    const { apiKey } = await h.agent('oa-seqs', 5_000_000);
    const stream = await client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'seqs' }], max_tokens: 16, stream: true });
    let last: Ainfera | undefined;
    for await (const chunk of stream) if ((chunk as unknown as Ainfera).ainfera) last = chunk as unknown as Ainfera;
    const info = last?.ainfera as { decisionId: string; chainSeqs: number[] };
    const [d] = await h.store.decisions.byIds([info.decisionId]);
    expect(info.chainSeqs).toEqual(d!.chainSeqs);
    expect(info.chainSeqs.length).toBeGreaterThanOrEqual(5);
  });

  it('fails a stream cut after output was sent with an error the client raises, never a quiet switch', async () => {
    const { record, apiKey } = await h.agent('oa-cut', 5_000_000);
    const offering = h.catalog.offerings().find((o) => o.modelId === 'glm-4.6')!;
    const rule = h.fleet.inject({ providerId: offering.providerId, model: offering.upstreamModel, fault: { kind: 'cut_mid_stream', afterTokens: 3, how: 'destroy' } });
    try {
      let text = '';
      const err = await apiError(
        (async () => {
          const s = await client(apiKey).chat.completions.create({ model: 'glm-4.6', messages: [{ role: 'user', content: 'cut me' }], max_tokens: 64, stream: true });
          for await (const chunk of s) text += chunk.choices[0]?.delta.content ?? '';
        })(),
      );
      expect(text.length).toBeGreaterThan(0);
      expect(err.code).toBe('all_attempts_failed');
      expect(await h.balance(record.id)).toBe(5_000_000);
    } finally {
      rule.remove();
    }
  });
});

describe('GET /v1/models', () => {
  it('lists auto and the catalog in OpenAI format', async () => {
    const { apiKey } = await h.agent('oa-models', 0);
    const ids: string[] = [];
    for await (const m of client(apiKey).models.list()) ids.push(m.id);
    expect(ids[0]).toBe('auto');
    expect(ids).toEqual(expect.arrayContaining(h.catalog.models().map((m) => m.id)));
    const one = await client(apiKey).models.retrieve('glm-4.6');
    expect(one).toMatchObject({ id: 'glm-4.6', object: 'model' });
  });

  it('answers 404 for an unknown or malformed model id, never a 500', async () => {
    for (const id of ['no-such-model', '%E0%A4%A', '%']) {
      const res = await fetch(`${h.baseURL}/models/${id}`);
      expect(res.status, id).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
    }
  });
});

describe('privacy', () => {
  it('writes no prompt text to the chain', async () => {
    const { apiKey } = await h.agent('oa-private', 5_000_000);
    const marker = `OA-MARKER-${Math.random().toString(36).slice(2)}`;
    await client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: `secret ${marker}` }], max_tokens: 16 });
    const s = await client(apiKey).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: `streamed ${marker}` }], max_tokens: 16, stream: true });
    for await (const _ of s) void _;
    const text = (await h.chainText()).join('\n');
    expect(text).not.toContain(marker);
  });
});
