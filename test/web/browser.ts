// Debian's Chromium (never a downloaded browser) driven by playwright-core, for the page's tests.
// Tests skip, saying why, only when /usr/bin/chromium is absent; CI installs it (apt-get install -y chromium).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM_PATH);
export const SKIP_REASON = `SKIPPED: ${CHROMIUM_PATH} not found (install Debian's Chromium: apt-get install -y chromium)`;

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

export interface PageProblems {
  /** console.error messages and uncaught page errors, in order. */
  errors: string[];
}

export interface TestBrowser {
  /** A new tab at 1280x800 (or `viewport`) that records console errors and page errors. */
  open(url: string, viewport?: { width: number; height: number }): Promise<{ page: Page; problems: PageProblems }>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  // A fresh profile per launch: no state leaks between runs (localStorage, caches).
  const profile = mkdtempSync(join(tmpdir(), 'ainfera-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 800 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  await context.route(/^(?!http:\/\/127\.0\.0\.1[:/]|ws:\/\/127\.0\.0\.1[:/])/, (route) => route.abort('blockedbyclient'));
  return {
    async open(url, viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      const problems: PageProblems = { errors: [] };
      page.on('console', (m) => {
        if (m.type() === 'error') problems.errors.push(`console.error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.errors.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => problems.errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
      await page.goto(url);
      return { page, problems };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
