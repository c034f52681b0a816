// What the GraphQL API needs from the rest of the system, as narrow views. The composition root
// (src/server/app.ts) adapts the real catalog, signals, chain and gateway to these; tests can hand in
// small fakes. The API never reaches past these into another domain's internals.
import type { Accounts } from '../accounts/accounts.js';
import type { ModelInfo, Price } from '../catalog/types.js';
import type { PublicKeyInfo } from '../chain/types.js';
import type { Gateway } from '../gateway/types.js';
import type { BreakerSnapshot, TaskType } from '../routing/types.js';
import type { Store } from '../store/port.js';
import type { ChainFeed } from './feed.js';

/** Live latency of one (provider, model): measured on our own calls, else the reference speed. */
export interface LatencySnapshot {
  p50Ms: number | null;
  p95Ms: number | null;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  /** Output tokens per second (measured median, else the reference speed). */
  tokensPerSecond: number | null;
  samples: number;
  source: 'measured' | 'reference';
}

export interface OfferingSnapshot {
  providerId: string;
  upstreamModel: string;
  price: Price;
  simulated: boolean;
  breaker: BreakerSnapshot;
  latency: LatencySnapshot;
}

/** The router's outcome estimate for (task type, model): calls seen and the posterior finish probability. */
export interface TaskOutcomeSnapshot {
  taskType: TaskType;
  calls: number;
  successes: number;
  /** Posterior mean finish probability (prior from the index and capabilities, updated by outcomes). */
  finishProbability: number;
}

export interface ModelSnapshot {
  info: ModelInfo;
  offerings: OfferingSnapshot[];
  outcomes: TaskOutcomeSnapshot[];
}

export interface ProviderSnapshot {
  id: string;
  simulated: boolean;
  /** Where its prices come from. */
  pricesFrom: 'models-endpoint' | 'config';
  /** Catalog model ids it serves. */
  models: string[];
  /** Whether an API key is present (never the key). */
  keyConfigured: boolean;
}

/** Catalog + live signals, read at query time. */
export interface ModelsView {
  models(now: number): ModelSnapshot[];
  providers(now: number): ProviderSnapshot[];
}

/** Proof computation and keys (checkpoints themselves are read from the store). */
export interface ChainView {
  keys(): PublicKeyInfo[];
  /** Audit path of leaf `leafIndex` in the tree of the first `treeSize` leaves (RFC 9162 §2.1.3). */
  inclusionProof(leafIndex: number, treeSize: number): Promise<string[]>;
  /** RFC 9162 §2.1.4 consistency proof between tree sizes. */
  consistencyProof(fromSize: number, toSize: number): Promise<string[]>;
}

export interface ApiDeps {
  store: Store;
  feed: ChainFeed;
  gateway: Gateway;
  accounts: Accounts;
  models: ModelsView;
  chain: ChainView;
  /** Bounded buffer per chainEvents subscriber (config.api.subscriberBufferLimit). */
  subscriberBufferLimit: number;
}
