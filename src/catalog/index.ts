// The catalog's public surface: models, providers, offerings, prices and the live price sync.
export * from './types.js';
export { Catalog, CatalogError, defaultProviderConfigs, referenceModels, type CatalogOffering, type CatalogOptions, type ModelsListReport, type PriceUpdate, type ReferenceListing } from './catalog.js';
export { DEFAULT_PROVIDERS, MODEL_SPECS } from './data.js';
export { usdPerTokenToMicrosPerMTok, tokenCostMicros, callCostMicros, formatMicros, PriceParseError } from './prices.js';
export { startPriceSync, syncProviderPrices, type PriceSync, type PriceSyncOptions, type PriceSyncResult } from './price-sync.js';
