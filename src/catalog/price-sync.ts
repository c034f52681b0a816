// Live prices: for every provider configured with `pricesFrom: 'models-endpoint'`, read its
// OpenRouter-format `GET {baseUrl}/models` on an interval and apply it to the catalog. A failed read
// keeps the last good price (whose readAt shows its age) and is logged; it never blocks routing.
import { request } from 'undici';
import { logger } from '../log.js';
import type { Catalog, ModelsListReport } from './catalog.js';
import type { ProviderConfig } from './types.js';

export interface PriceSyncOptions {
  /** Default refresh interval when the provider config has no priceRefreshMs (ms). */
  intervalMs?: number;
  /** Per-read timeout (ms). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export interface PriceSyncResult {
  providerId: string;
  ok: boolean;
  report?: ModelsListReport;
  error?: string;
  readAt: number;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Reads one provider's /models list and applies it. Never throws: failures come back as `ok: false`. */
export async function syncProviderPrices(catalog: Catalog, provider: ProviderConfig, opts: PriceSyncOptions = {}): Promise<PriceSyncResult> {
  const now = opts.now ?? Date.now;
  const url = `${provider.baseUrl.replace(/\/+$/, '')}/models`;
  const headers: Record<string, string> = { accept: 'application/json' };
  const keyName = provider.apiKeyEnv;
  const key = keyName ? (opts.env ?? process.env)[keyName] : undefined;
  if (key) headers.authorization = `Bearer ${key}`;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    const res = await request(url, { method: 'GET', headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const readAt = now();
    if (res.statusCode !== 200) {
      await res.body.dump();
      return { providerId: provider.id, ok: false, error: `GET ${url}: HTTP ${res.statusCode}`, readAt };
    }
    const len = Number(res.headers['content-length'] ?? 0);
    if (len > MAX_BODY_BYTES) {
      await res.body.dump();
      return { providerId: provider.id, ok: false, error: `GET ${url}: body too large (${len} bytes)`, readAt };
    }
    const body = await res.body.json();
    const report = catalog.applyModelsList(provider.id, body, readAt, url);
    return { providerId: provider.id, ok: true, report, readAt };
  } catch (err) {
    return { providerId: provider.id, ok: false, error: `GET ${url}: ${(err as Error).message}`, readAt: now() };
  }
}

export interface PriceSync {
  /** Reads every live-priced provider now (also what the interval does). */
  syncNow(): Promise<PriceSyncResult[]>;
  /** The first read (started immediately); resolves even when reads fail. */
  ready: Promise<PriceSyncResult[]>;
  stop(): void;
}

/** Starts the refresh loop: an immediate read, then one per provider interval. Timers are unref'd. */
export function startPriceSync(catalog: Catalog, opts: PriceSyncOptions = {}): PriceSync {
  const live = catalog.providers().filter((p) => p.pricesFrom === 'models-endpoint');
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;

  const one = async (p: ProviderConfig): Promise<PriceSyncResult> => {
    const r = await syncProviderPrices(catalog, p, opts);
    if (!r.ok) logger.warn({ provider: p.id, err: r.error }, 'price sync failed; keeping last known prices');
    else if (r.report && (r.report.changed.length || r.report.invalid.length)) {
      logger.info(
        { provider: p.id, changed: r.report.changed.map((c) => c.modelId), invalid: r.report.invalid.length },
        'live prices updated',
      );
    }
    return r;
  };

  const syncNow = () => Promise.all(live.map(one));
  for (const p of live) {
    const every = p.priceRefreshMs ?? opts.intervalMs ?? 15 * 60_000;
    const t = setInterval(() => {
      if (!stopped) void one(p);
    }, every);
    t.unref();
    timers.push(t);
  }
  const ready = syncNow();
  return {
    syncNow,
    ready,
    stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
    },
  };
}
