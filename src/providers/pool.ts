// One pooled keep-alive undici client per origin, shared by every adapter that talks to it, so calls
// reuse warm connections instead of paying a TCP (and TLS) handshake each time.
import { Pool } from 'undici';

export interface PoolOptions {
  /** TCP/TLS connect timeout for new connections. */
  connectMs?: number;
  /** Concurrent connections per origin. */
  connections?: number;
}

export class ProviderPools {
  private readonly pools = new Map<string, Pool>();

  /** The pool for this URL's origin; created on first use with these options, reused afterwards. */
  get(url: string | URL, opts: PoolOptions = {}): Pool {
    const origin = new URL(url).origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: opts.connections ?? 256,
        connect: { timeout: opts.connectMs ?? 3_000 },
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        // Our own timers classify first-token and stall timeouts precisely; undici's would only race them.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  get size(): number {
    return this.pools.size;
  }

  /** Closes every pool (in-flight requests are destroyed). */
  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
  }
}

/** The process-wide registry used when an adapter is not given its own. */
export const defaultPools = new ProviderPools();
