// Catalog shapes: models, the providers serving them, and prices. Pure types (no Node-only imports).
// Money is integer micro-USD; a price is per million tokens (1 USD/MTok = 1_000_000 micros/MTok).

/** What a model can do. tools / vision / json_schema are hard requirements; reasoning / code shape priors. */
export type Capability = 'tools' | 'vision' | 'json_schema' | 'json_mode' | 'reasoning' | 'code';

/** Where a price was read. `models-endpoint`: live from the provider's OpenRouter-format /models list;
 * `config`: the operator's configuration; `reference`: the catalog's default list price (configuration too). */
export type PriceSource = 'models-endpoint' | 'config' | 'reference';

export interface Price {
  /** Integer micro-USD per million input tokens. */
  inputPerMTokMicros: number;
  /** Integer micro-USD per million output tokens. */
  outputPerMTokMicros: number;
  source: PriceSource;
  /** Epoch ms when this price was read (for `reference`/`config`: when the catalog was loaded). */
  readAt: number;
  /** URL of the /models list, or `config:<providerId>`, or `catalog`. */
  origin?: string;
}

/** One model, independent of who serves it. `id` is a stable slug. */
export interface ModelInfo {
  id: string;
  /** Display name as published in the reference list. */
  name: string;
  vendor: string;
  intelligenceIndex: number;
  /** Reference output speed, tokens/s. */
  outputTokensPerSecond: number;
  /** Context window in tokens. */
  contextWindow: number;
  /** Max output tokens the model will produce in one call. */
  maxOutputTokens: number;
  capabilities: readonly Capability[];
}

/** Per-provider behaviour differences, as data the adapter interprets (e.g. `assistantPrefill: false`). */
export type ProviderQuirks = Readonly<Record<string, string | number | boolean>>;

/** How one provider serves one catalog model. Prices here are configuration (used unless live prices exist). */
export interface ProviderModelConfig {
  /** The model id the provider expects in the request body. */
  upstream: string;
  inputPerMTokMicros?: number;
  outputPerMTokMicros?: number;
}

/** Provider configuration (same shape as config.ts `providers[]`, plus quirks). */
export interface ProviderConfig {
  /** Lowercase slug, e.g. `groq`, `deepseek`. */
  id: string;
  kind: 'openai-compatible';
  /** e.g. https://api.groq.com/openai/v1 (the adapter appends /chat/completions, /models). */
  baseUrl: string;
  /** Name of the env var holding the API key; never the key. */
  apiKeyEnv?: string;
  /** Catalog model id → how this provider serves it. */
  models: Record<string, ProviderModelConfig>;
  pricesFrom?: 'models-endpoint' | 'config';
  priceRefreshMs?: number;
  quirks?: ProviderQuirks;
  /** True for the loopback simulated fleet: surfaces label its data as simulated. */
  simulated?: boolean;
}

/** A (provider, model) pair the router can pick: one routable offering. */
export interface Offering {
  modelId: string;
  providerId: string;
  upstreamModel: string;
  /** Current price (live when available, else configuration). */
  price: Price;
}
