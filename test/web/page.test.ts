// The live trace page in Debian's Chromium against a whole real server (SQLite, signed chain, simulated
// fleet): it loads cleanly, shows routed calls live, resumes after a dropped socket with no gap,
// verifies an entry in the browser (green), shows a tampered entry red, flags a forked or rolled-back
// log, plots one point per model, and leaves screenshots in test-results/ for people to look at.
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainStore, Store } from '../../src/store/port.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { hasChromium, launchBrowser, SKIP_REASON, type TestBrowser } from './browser.js';

if (!hasChromium) console.warn(`test/web/page.test.ts: ${SKIP_REASON}`);

const SHOTS = 'test-results';

/** Route one call through the OpenAI-compatible endpoint; returns the chain seqs it wrote. */
async function route(s: TestServer, text = 'hello'): Promise<number[]> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.demoKey}` },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: text }], max_tokens: 16 }),
  });
  await res.text();
  expect(res.status).toBe(200);
  return (res.headers.get('x-ainfera-chain-seqs') ?? '').split(',').filter(Boolean).map(Number);
}

async function shownSeqs(page: Page): Promise<number[]> {
  return page.$$eval('#trace-body tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.seq)));
}

async function waitForSeq(page: Page, seq: number): Promise<void> {
  await page.locator(`#trace-body tr[data-seq="${seq}"]`).waitFor({ timeout: 15_000 });
}

async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.feed === 'live', undefined, { timeout: 15_000 });
}

/** Newest first, consecutive, no duplicate. */
function expectContiguousDesc(seqs: number[]): void {
  expect(seqs.length).toBeGreaterThan(0);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i], `row ${i} after seq ${seqs[i - 1]}`).toBe(seqs[i - 1]! - 1);
}

/** Tampers with the stored bytes of chosen seqs on single-entry reads (what GET /v1/audit/public/SEQ serves). */
function tamperingStore(tampered: Set<number>): (store: Store) => Store {
  return (store) => {
    const chain: ChainStore = Object.create(store.chain) as ChainStore;
    chain.entry = async (seq) => {
      const e = await store.chain.entry(seq);
      if (!e || !tampered.has(seq)) return e;
      // Same hash and signature, altered content: what a dishonest server or a corrupted disk would serve.
      const obj = JSON.parse(e.canonical) as Record<string, unknown>;
      obj.agent = `${String(obj.agent)}-forged`;
      return { ...e, canonical: JSON.stringify(obj) };
    };
    // Methods of the real chain store must run with `this` bound to it.
    for (const k of ['head', 'append', 'entries', 'leafHashes', 'entriesOfDecision', 'addCheckpoint', 'latestCheckpoint', 'checkpointBySize', 'checkpointByIndex', 'checkpoints', 'watch'] as const) {
      (chain as unknown as Record<string, unknown>)[k] = (store.chain[k] as (...a: unknown[]) => unknown).bind(store.chain);
    }
    return new Proxy(store, { get: (t, p, r) => (p === 'chain' ? chain : Reflect.get(t, p, r)) });
  };
}

describe.skipIf(!hasChromium)('live trace page in Chromium', () => {
  let s: TestServer;
  let browser: TestBrowser;
  /** Seqs the server's store serves altered (empty until the tampering test). */
  const tampered = new Set<number>();

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [s, browser] = await Promise.all([startTestServer({ web: true, wrapStore: tamperingStore(tampered) }), launchBrowser()]);
    // Some history before the page opens.
    for (let i = 0; i < 3; i++) await route(s, `warm-up ${i}`);
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('loads with no console error, connects live, and shows chain height and size', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    await page.locator('#trace-body tr').first().waitFor();
    await page.locator('#models-chart svg .point').first().waitFor();
    await page.waitForFunction(() => document.getElementById('block-height')?.textContent?.startsWith('#'));
    const size = Number((await page.textContent('#chain-size'))!.replace(/,/g, ''));
    expect(size).toBeGreaterThan(0);
    await expect.poll(() => page.textContent('#log-status'), { timeout: 10_000 }).toMatch(/Log consistent/);
    // Simulated data is labelled as such.
    expect(await page.isVisible('#sim-banner')).toBe(true);
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('shows rows live, newest first, as routes are called', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    const seqs = [...(await route(s, 'live one')), ...(await route(s, 'live two'))];
    expect(seqs.length).toBeGreaterThanOrEqual(4);
    const newest = Math.max(...seqs);
    await waitForSeq(page, newest);
    const shown = await shownSeqs(page);
    expect(shown[0]).toBe(newest);
    for (const seq of seqs) expect(shown).toContain(seq);
    expectContiguousDesc(shown);
    // Row content: kind, agent handle and short hash as the chain has them.
    const env = (await (await fetch(`${s.url}/v1/audit/public/${newest}`)).json()) as { hash: string; entry: { kind: string; agent: string } };
    const row = page.locator(`#trace-body tr[data-seq="${newest}"]`);
    expect(await row.textContent()).toContain(env.entry.kind);
    expect(await row.textContent()).toContain(env.entry.agent);
    expect(await row.textContent()).toContain(env.hash.slice(2, 10));
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('pauses the table on request and catches up on resume', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    await page.click('#pause-button');
    expect(await page.getAttribute('#pause-button', 'aria-pressed')).toBe('true');
    const before = await shownSeqs(page);
    const seqs = await route(s, 'while paused');
    await expect.poll(() => page.textContent('#live-indicator')).toBe(`Paused · ${seqs.length} new`);
    expect(await shownSeqs(page)).toEqual(before);
    await page.click('#pause-button');
    await waitForSeq(page, Math.max(...seqs));
    expect(await page.textContent('#live-indicator')).toBe('Live');
    expectContiguousDesc(await shownSeqs(page));
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('keeps only the last N rows however many arrive (bounded memory)', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    const max = Number(await page.getAttribute('#trace-body', 'data-max-rows'));
    expect(max).toBeGreaterThan(0);
    let newest = 0;
    // Enough calls to write more than `max` entries (each call writes several).
    while (true) {
      const batch = await Promise.all([1, 2, 3, 4].map((i) => route(s, `flood ${i}`)));
      newest = Math.max(newest, ...batch.flat());
      const shown = await shownSeqs(page);
      if (shown.length > 0 && newest - shown[shown.length - 1]! >= max) break;
    }
    await waitForSeq(page, newest);
    const shown = await shownSeqs(page);
    expect(shown.length).toBe(max);
    expect(shown[0]).toBe(newest);
    expectContiguousDesc(shown);
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('resumes from the last seq seen after the socket drops: no gap, no duplicate', async () => {
    const { page } = await browser.open(s.url);
    await waitLive(page);
    await page.evaluate(() => {
      const w = window as unknown as { feedStates: string[] };
      w.feedStates = [];
      new MutationObserver(() => w.feedStates.push(document.body.dataset.feed ?? '')).observe(document.body, { attributes: true, attributeFilter: ['data-feed'] });
    });
    const before = await route(s, 'before the drop');
    await waitForSeq(page, Math.max(...before));
    // Drop every WebSocket from the server side, then append while the page is away.
    for (const ws of s.ainfera.server.wss.clients) ws.terminate();
    const during = [...(await route(s, 'while away 1')), ...(await route(s, 'while away 2'))];
    const after = await route(s, 'after');
    await waitForSeq(page, Math.max(...after));
    await waitLive(page);
    const states = await page.evaluate(() => (window as unknown as { feedStates: string[] }).feedStates);
    expect(states).toContain('reconnecting');
    const shown = await shownSeqs(page);
    for (const seq of [...before, ...during, ...after]) expect(shown).toContain(seq);
    expectContiguousDesc(shown);
    await page.close();
  });

  it('verifies a clicked row in the browser: green, with every check passed', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    const seqs = await route(s, 'to verify');
    const seq = seqs[1]!;
    await waitForSeq(page, seq);
    await page.click(`#trace-body tr[data-seq="${seq}"]`);
    await page.waitForSelector('#verify-badge.ok', { timeout: 15_000 });
    expect(await page.getAttribute('.verdict', 'data-verdict')).toBe('ok');
    const states = await page.$$eval('#verify-body .checks li', (lis) => lis.map((li) => `${(li as HTMLElement).dataset.check}:${li.className}`));
    expect(states).toEqual(['format:ok', 'hash:ok', 'signature:ok', 'checkpoint:ok', 'inclusion:ok', 'stream:ok', 'consistency:ok']);
    // The canonical bytes shown are the ones the server stored (computed here, byte for byte).
    const canonical = await page.textContent('[data-field="canonical"]');
    const stored = await s.app.store.chain.entry(seq);
    expect(canonical).toBe(stored!.canonical);
    expect(await page.textContent(`#trace-body tr[data-seq="${seq}"] .v-mark`)).toBe('✓');

    // Keyboard: the rows are one tab stop; arrows move, Enter verifies.
    const other = seqs[0]!;
    await page.focus(`#trace-body tr[data-seq="${seq}"]`);
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.seq)).toBe(String(other));
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.getElementById('verify-badge')?.textContent === `#${n} verified`, other, { timeout: 15_000 });
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('plots one point per model, each with a tooltip', async () => {
    const { page } = await browser.open(s.url);
    await page.locator('#models-chart svg .point').first().waitFor();
    const r = await s.gql<{ models: { id: string }[] }>('{ models { id } }');
    const ids = r.body.data!.models.map((m) => m.id).sort();
    const shown = (await page.$$eval('#models-chart .point', (els) => els.map((e) => e.getAttribute('data-model') ?? ''))).sort();
    expect(shown).toEqual(ids);
    await page.focus(`#models-chart .point[data-model="${ids[0]}"]`);
    await expect.poll(() => page.isVisible('#chart-tooltip')).toBe(true);
    const tip = await page.textContent('#chart-tooltip');
    for (const label of ['Vendor', 'Provider', 'Price', 'p50 latency', 'Finish rate']) expect(tip).toContain(label);
    await page.close();
  });

  it('shows the demo agent’s decisions with its key kept in sessionStorage only', async () => {
    const { page, problems } = await browser.open(s.url);
    await page.fill('#agent-key', s.demoKey!);
    await page.click('#key-form button[type=submit]');
    await page.locator('.decisions-table tbody tr').first().waitFor({ timeout: 10_000 });
    expect(await page.textContent('#decisions-out')).toMatch(/ranked first of \d+ eligible/);
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('ainfera.agentKey'), local: JSON.stringify(localStorage) }));
    expect(stored.session).toBe(s.demoKey);
    expect(stored.local).not.toContain(s.demoKey!);
    await page.click('#key-forget');
    expect(await page.evaluate(() => sessionStorage.getItem('ainfera.agentKey'))).toBeNull();
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('flags a forked log and a rolled-back log in red', async () => {
    const note = await (await fetch(`${s.url}/v1/audit/checkpoint`)).text();
    const [origin = '', sizeLine = ''] = note.split('\n');
    const size = Number(sizeLine);
    const key = `ainfera.trustedCheckpoint:${origin}`;
    // This browser "remembers" a checkpoint of the same size with another root: the log was forked.
    const forged = { origin, size, rootHash: `0x${'ab'.repeat(32)}`, note, verifiedAt: new Date().toISOString() };
    const { page } = await browser.open(`${s.url}/web/favicon.svg`);
    await page.evaluate(([k, v]) => localStorage.setItem(k!, v!), [key, JSON.stringify(forged)]);
    await page.goto(s.url);
    await page.waitForSelector('#log-status.bad', { timeout: 15_000 });
    expect(await page.textContent('#log-status')).toMatch(/FORKED LOG/);

    // It remembers a larger checkpoint than the log now serves: rolled back.
    const larger = { origin, size: size + 1000, rootHash: `0x${'cd'.repeat(32)}`, note, verifiedAt: new Date().toISOString() };
    await page.evaluate(([k, v]) => localStorage.setItem(k!, v!), [key, JSON.stringify(larger)]);
    await page.reload();
    await page.waitForSelector('#log-status.bad', { timeout: 15_000 });
    expect(await page.textContent('#log-status')).toMatch(/ROLLED-BACK LOG/);

    // The person may choose to trust the log as it is now; the alarm clears.
    await page.click('#log-status button');
    await page.waitForSelector('#log-status.ok', { timeout: 15_000 });
    await page.close();
  });

  it('is readable at 1280x800 and at phone width (screenshots in test-results/)', async () => {
    const { page, problems } = await browser.open(s.url);
    await waitLive(page);
    await route(s, 'for the picture');
    const seqs = await route(s, 'for the picture 2');
    await waitForSeq(page, seqs[seqs.length - 1]!);
    await page.locator('#models-chart svg .point').first().waitFor();
    await page.click(`#trace-body tr[data-seq="${seqs[1]}"]`);
    await page.waitForSelector('#verify-badge.ok', { timeout: 15_000 });
    await page.screenshot({ path: `${SHOTS}/web-trace-1280x800.png` });
    // Nothing wider than the viewport: no sideways scrolling of the page itself.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}/web-trace-phone-390.png`, fullPage: true });
    expect(problems.errors).toEqual([]);
    await page.close();
  });

  it('shows a tampered entry red and an untouched one green', async () => {
    const { page } = await browser.open(s.url);
    await waitLive(page);
    const seqs = await route(s, 'tamper me');
    const bad = seqs[0]!;
    const good = seqs[1]!;
    tampered.add(bad);
    await waitForSeq(page, good);

    await page.click(`#trace-body tr[data-seq="${bad}"]`);
    await page.waitForSelector('#verify-badge.bad', { timeout: 15_000 });
    expect(await page.getAttribute('.verdict', 'data-verdict')).toBe('bad');
    expect(await page.getAttribute('[data-check="hash"]', 'class')).toBe('bad');
    expect(await page.textContent('[data-check="hash"]')).toMatch(/altered/);
    expect(await page.textContent(`#trace-body tr[data-seq="${bad}"] .v-mark`)).toBe('✗');
    await page.screenshot({ path: `${SHOTS}/web-trace-tampered.png` });

    await page.click(`#trace-body tr[data-seq="${good}"]`);
    await page.waitForSelector('#verify-badge.ok', { timeout: 15_000 });
    await page.close();
  });
});

