// One adapter per configured provider, sharing one pool registry. The composition root builds it from
// the catalog's provider configs; for the default run it points every provider at the simulated fleet.
import type { ProviderConfig } from '../catalog/types.js';
import { OpenAICompatibleAdapter } from './openai-compatible.js';
import { ProviderPools } from './pool.js';
import { quirksFromRecord } from './quirks.js';

export { quirksFromRecord };

export interface AdapterRegistryOptions {
  /** Pool registry to share (default: a new one owned by this registry, closed by close()). */
  pools?: ProviderPools;
  /** Base URL per provider (e.g. `(p) => fleet.baseUrl(p.id)` for the simulated fleet); default p.baseUrl. */
  baseUrlFor?: (p: ProviderConfig) => string;
  env?: Record<string, string | undefined>;
  connectMs?: number;
}

export class AdapterRegistry {
  private readonly adapters = new Map<string, OpenAICompatibleAdapter>();
  private readonly pools: ProviderPools;
  private readonly ownsPools: boolean;

  constructor(providers: readonly ProviderConfig[], opts: AdapterRegistryOptions = {}) {
    this.ownsPools = !opts.pools;
    this.pools = opts.pools ?? new ProviderPools();
    for (const p of providers) {
      if (p.kind !== 'openai-compatible') continue;
      const cfg: ConstructorParameters<typeof OpenAICompatibleAdapter>[0] = {
        providerId: p.id,
        baseUrl: opts.baseUrlFor ? opts.baseUrlFor(p) : p.baseUrl,
        quirks: quirksFromRecord(p.quirks),
        pools: this.pools,
      };
      if (p.apiKeyEnv) cfg.apiKeyEnv = p.apiKeyEnv;
      if (opts.env) cfg.env = opts.env;
      if (opts.connectMs !== undefined) cfg.connectMs = opts.connectMs;
      this.adapters.set(p.id, new OpenAICompatibleAdapter(cfg));
    }
  }

  get(providerId: string): OpenAICompatibleAdapter | undefined {
    return this.adapters.get(providerId);
  }

  ids(): string[] {
    return [...this.adapters.keys()];
  }

  async close(): Promise<void> {
    if (this.ownsPools) await this.pools.close();
  }
}
