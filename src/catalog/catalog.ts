// The catalog: models (seeded from reference-models.json, enriched by data.ts), the providers that
// serve them, and the current price of every (provider, model) offering with where and when it was read.
// Offerings are created once; prices change in place and bump `version`, so the router can keep
// per-offering precomputed data and only refresh prices when the version moves.
import { readFileSync } from 'node:fs';
import { DEFAULT_PROVIDERS, HOST_TO_PROVIDER, MODEL_SPECS, type ModelSpec, type ProviderDefaults } from './data.js';
import { usdPerTokenToMicrosPerMTok } from './prices.js';
import type { Capability, ModelInfo, Offering, Price, ProviderConfig } from './types.js';

/** A reference listing as published (reference-models.json). */
export interface ReferenceListing {
  name: string;
  vendor: string;
  intelligenceIndex: number;
  outputTokensPerSecond: number;
  host: string | null;
}

export interface ReferenceFile {
  source: string;
  models: ReferenceListing[];
}

let referenceCache: ReferenceFile | undefined;

/** The seed list, read once from src/catalog/reference-models.json. */
export function referenceModels(): ReferenceFile {
  referenceCache ??= JSON.parse(readFileSync(new URL('./reference-models.json', import.meta.url), 'utf8')) as ReferenceFile;
  return referenceCache;
}

/** A bad catalog or provider configuration; `field` names the offending path. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** One routable (provider, model) pair with everything the router needs precomputed. */
export interface CatalogOffering extends Offering {
  /** Stable position in `catalog.offerings()`. */
  index: number;
  model: ModelInfo;
  provider: ProviderConfig;
  /** Capabilities as this host exposes them (the model's minus the host's gaps). */
  capabilities: readonly Capability[];
  /** Output speed of the listing (tokens/s): the latency prior until we have measured our own. */
  referenceOutputTokensPerSecond: number;
  /** Time to first token prior, ms. */
  defaultTtftMs: number;
  /** False for a second host not in the reference listing. */
  listed: boolean;
  /** The configuration / reference price, kept to fall back to. */
  configuredPrice: Price;
}

export interface CatalogOptions {
  /**
   * Operator provider configuration. When given, exactly these providers are used (their models must be
   * catalog model ids); prices missing from it fall back to the catalog's reference price.
   * When omitted, the default providers (data.ts) with their reference prices.
   */
  providers?: readonly ProviderConfig[];
  /** Epoch ms the configuration prices are stamped with (default: now). */
  now?: number;
}

export interface PriceUpdate {
  providerId: string;
  modelId: string;
  before: Price;
  after: Price;
}

export interface ModelsListReport {
  providerId: string;
  /** Offerings whose price was set from the list. */
  updated: number;
  /** Of those, how many changed value. */
  changed: PriceUpdate[];
  /** List entries that match no offering of this provider (ignored). */
  unknown: number;
  /** List entries whose pricing could not be read (ignored, reason per entry). */
  invalid: { id: string; reason: string }[];
}

const PROVIDER_DEFAULTS = new Map<string, ProviderDefaults>(DEFAULT_PROVIDERS.map((p) => [p.id, p]));
const FALLBACK_TTFT_MS = 800;

/** The default providers with the catalog's models and reference prices (real hosts' base URLs). */
export function defaultProviderConfigs(): ProviderConfig[] {
  const byId = new Map<string, ProviderConfig>();
  for (const p of DEFAULT_PROVIDERS) {
    byId.set(p.id, { id: p.id, kind: 'openai-compatible', baseUrl: p.baseUrl, apiKeyEnv: p.apiKeyEnv, models: {}, pricesFrom: 'config' });
  }
  for (const spec of MODEL_SPECS) {
    for (const offer of spec.offers) {
      const p = byId.get(offer.provider);
      if (!p) throw new CatalogError(`data.${spec.id}.offers.${offer.provider}`, 'unknown provider');
      p.models[spec.id] = { upstream: offer.upstream, inputPerMTokMicros: offer.in, outputPerMTokMicros: offer.out };
    }
  }
  return [...byId.values()];
}

interface ModelSeed {
  info: ModelInfo;
  spec: ModelSpec;
  /** Reference speed per provider id (from the listing that names it), and the model's best listing. */
  speedByProvider: Map<string, number>;
  speed: number;
}

function buildModels(): Map<string, ModelSeed> {
  const ref = referenceModels();
  const byName = new Map(ref.models.map((m) => [m.name, m]));
  if (MODEL_SPECS.length !== ref.models.length) {
    throw new CatalogError('data.MODEL_SPECS', `has ${MODEL_SPECS.length} entries for ${ref.models.length} reference listings`);
  }
  const seeds = new Map<string, ModelSeed>();
  for (const spec of MODEL_SPECS) {
    const listing = byName.get(spec.ref);
    if (!listing) throw new CatalogError(`data.${spec.id}.ref`, `no reference listing named ${JSON.stringify(spec.ref)}`);
    const hostProvider = listing.host ? HOST_TO_PROVIDER[listing.host] : undefined;
    if (listing.host && !hostProvider) throw new CatalogError(`reference.${listing.name}.host`, `unknown host ${listing.host}`);
    let seed = seeds.get(spec.id);
    if (!seed) {
      seed = {
        info: {
          id: spec.id,
          name: listing.name.replace(/\s*\((?:Novita|Together|DeepInfra|Groq)\)$/, ''),
          vendor: listing.vendor,
          intelligenceIndex: listing.intelligenceIndex,
          outputTokensPerSecond: listing.outputTokensPerSecond,
          contextWindow: spec.contextWindow,
          maxOutputTokens: spec.maxOutputTokens,
          capabilities: Object.freeze([...spec.caps]),
        },
        spec: { ...spec, offers: [...spec.offers] },
        speedByProvider: new Map(),
        speed: listing.outputTokensPerSecond,
      };
      seeds.set(spec.id, seed);
    } else {
      // A second listing of the same model on another host: keep its offers and its own speed.
      seed.spec.offers.push(...spec.offers);
    }
    for (const offer of spec.offers) {
      if (offer.listed !== false) seed.speedByProvider.set(offer.provider, listing.outputTokensPerSecond);
    }
  }
  return seeds;
}

export class Catalog {
  #models: Map<string, ModelSeed>;
  #providers = new Map<string, ProviderConfig>();
  #offerings: CatalogOffering[] = [];
  #byKey = new Map<string, CatalogOffering>();
  /** provider id → upstream id → offering */
  #byUpstream = new Map<string, Map<string, CatalogOffering>>();
  #version = 0;
  #listeners = new Set<(u: PriceUpdate) => void>();

  constructor(options: CatalogOptions = {}) {
    const now = options.now ?? Date.now();
    this.#models = buildModels();
    const providers = options.providers ?? defaultProviderConfigs();
    const refPrices = this.#referencePrices();
    providers.forEach((p, i) => this.#addProvider(p, `providers[${i}]`, now, refPrices));
  }

  /** Bumps on every price change: precomputed router data compares it to know when to refresh. */
  get version(): number {
    return this.#version;
  }

  models(): ModelInfo[] {
    return [...this.#models.values()].map((s) => s.info);
  }

  model(id: string): ModelInfo | undefined {
    return this.#models.get(id)?.info;
  }

  providers(): ProviderConfig[] {
    return [...this.#providers.values()];
  }

  provider(id: string): ProviderConfig | undefined {
    return this.#providers.get(id);
  }

  offerings(): readonly CatalogOffering[] {
    return this.#offerings;
  }

  offering(providerId: string, modelId: string): CatalogOffering | undefined {
    return this.#byKey.get(`${providerId}/${modelId}`);
  }

  /** Price changes (live sync or operator) as they happen. Returns an unsubscribe function. */
  onPriceChange(listener: (u: PriceUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sets the current price of one offering (live source). Returns the update, or null if unchanged in value and source. */
  setPrice(providerId: string, modelId: string, price: Price): PriceUpdate | null {
    const o = this.#byKey.get(`${providerId}/${modelId}`);
    if (!o) throw new CatalogError('price', `no offering ${providerId}/${modelId}`);
    for (const [field, v] of [['inputPerMTokMicros', price.inputPerMTokMicros], ['outputPerMTokMicros', price.outputPerMTokMicros]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new CatalogError(`price.${field}`, 'must be a non-negative safe integer (micro-USD per MTok)');
    }
    const before = o.price;
    o.price = Object.freeze({ ...price });
    this.#version++;
    const update = { providerId, modelId, before, after: o.price };
    if (before.inputPerMTokMicros !== price.inputPerMTokMicros || before.outputPerMTokMicros !== price.outputPerMTokMicros) {
      for (const l of this.#listeners) l(update);
    }
    return update;
  }

  /**
   * Applies a provider's OpenRouter-format model list (`{ data: [{ id, pricing: { prompt, completion } }] }`,
   * USD per token as decimal strings). `id` matches an offering's upstream model id (or its catalog id).
   * Entries with unreadable pricing are reported and skipped; nothing else changes.
   */
  applyModelsList(providerId: string, body: unknown, readAt: number, origin?: string): ModelsListReport {
    const report: ModelsListReport = { providerId, updated: 0, changed: [], unknown: 0, invalid: [] };
    if (!this.#providers.has(providerId)) throw new CatalogError('providerId', `unknown provider ${providerId}`);
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw new CatalogError(`${providerId}./models`, 'expected an object with a `data` array');
    const byUpstream = this.#byUpstream.get(providerId)!;
    for (const [i, entry] of data.entries()) {
      const id = (entry as { id?: unknown })?.id;
      if (typeof id !== 'string') {
        report.invalid.push({ id: `data[${i}]`, reason: 'missing string id' });
        continue;
      }
      const o = byUpstream.get(id) ?? this.#byKey.get(`${providerId}/${id}`);
      if (!o) {
        report.unknown++;
        continue;
      }
      const pricing = (entry as { pricing?: { prompt?: unknown; completion?: unknown } }).pricing;
      try {
        if (!pricing) throw new Error('no pricing');
        const inputPerMTokMicros = usdPerTokenToMicrosPerMTok(pricing.prompt, 'pricing.prompt');
        const outputPerMTokMicros = usdPerTokenToMicrosPerMTok(pricing.completion, 'pricing.completion');
        const before = o.price;
        this.setPrice(providerId, o.modelId, { inputPerMTokMicros, outputPerMTokMicros, source: 'models-endpoint', readAt, ...(origin ? { origin } : {}) });
        report.updated++;
        if (before.inputPerMTokMicros !== inputPerMTokMicros || before.outputPerMTokMicros !== outputPerMTokMicros) {
          report.changed.push({ providerId, modelId: o.modelId, before, after: o.price });
        }
      } catch (err) {
        report.invalid.push({ id, reason: (err as Error).message });
      }
    }
    return report;
  }

  /** Reverts one offering to its configured price (e.g. when a live list has gone stale). */
  revertToConfiguredPrice(providerId: string, modelId: string): void {
    const o = this.#byKey.get(`${providerId}/${modelId}`);
    if (o && o.price !== o.configuredPrice) this.setPrice(providerId, modelId, o.configuredPrice);
  }

  #referencePrices(): Map<string, { in: number; out: number }> {
    // The model's reference price: its first listed offering in data.ts.
    const out = new Map<string, { in: number; out: number }>();
    for (const seed of this.#models.values()) {
      const first = seed.spec.offers.find((o) => o.listed !== false) ?? seed.spec.offers[0];
      if (first) out.set(seed.info.id, { in: first.in, out: first.out });
    }
    return out;
  }

  #addProvider(p: ProviderConfig, field: string, now: number, refPrices: Map<string, { in: number; out: number }>): void {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(p.id)) throw new CatalogError(`${field}.id`, 'must be a lowercase slug');
    if (this.#providers.has(p.id)) throw new CatalogError(`${field}.id`, `duplicate provider ${p.id}`);
    const provider: ProviderConfig = { ...p, models: { ...p.models } };
    this.#providers.set(p.id, provider);
    const byUpstream = new Map<string, CatalogOffering>();
    this.#byUpstream.set(p.id, byUpstream);
    const defaults = PROVIDER_DEFAULTS.get(p.id);
    for (const [modelId, m] of Object.entries(p.models)) {
      const seed = this.#models.get(modelId);
      if (!seed) throw new CatalogError(`${field}.models.${modelId}`, 'not a catalog model id');
      const offerSpec = seed.spec.offers.find((o) => o.provider === p.id);
      // The reference price for this host's offering when data.ts has one, else the model's.
      const ref = offerSpec ? { in: offerSpec.in, out: offerSpec.out } : refPrices.get(modelId)!;
      const inputPerMTokMicros = m.inputPerMTokMicros ?? ref.in;
      const outputPerMTokMicros = m.outputPerMTokMicros ?? ref.out;
      // Source is honest about provenance: 'reference' when it is the catalog's own list price.
      const isReference = inputPerMTokMicros === ref.in && outputPerMTokMicros === ref.out;
      const configuredPrice: Price = Object.freeze({
        inputPerMTokMicros,
        outputPerMTokMicros,
        source: isReference ? 'reference' : 'config',
        readAt: now,
        origin: isReference ? 'catalog' : `config:${p.id}`,
      });
      for (const [k, v] of [['inputPerMTokMicros', configuredPrice.inputPerMTokMicros], ['outputPerMTokMicros', configuredPrice.outputPerMTokMicros]] as const) {
        if (!Number.isSafeInteger(v) || v < 0) throw new CatalogError(`${field}.models.${modelId}.${k}`, 'must be a non-negative safe integer');
      }
      const lacks = new Set(offerSpec?.lacks ?? []);
      if (p.quirks?.jsonSchema === false) lacks.add('json_schema');
      const offering: CatalogOffering = {
        index: this.#offerings.length,
        modelId,
        providerId: p.id,
        upstreamModel: m.upstream,
        price: configuredPrice,
        configuredPrice,
        model: seed.info,
        provider,
        capabilities: Object.freeze(seed.info.capabilities.filter((c) => !lacks.has(c))),
        referenceOutputTokensPerSecond: seed.speedByProvider.get(p.id) ?? seed.speed,
        defaultTtftMs: defaults?.defaultTtftMs ?? FALLBACK_TTFT_MS,
        listed: offerSpec ? offerSpec.listed !== false : false,
      };
      this.#offerings.push(offering);
      this.#byKey.set(`${p.id}/${modelId}`, offering);
      byUpstream.set(m.upstream, offering);
    }
  }
}
