// The routing library's public surface. Composition (server) typically does:
//   const catalog = new Catalog({ providers });            // src/catalog
//   const signals = new Signals(catalog);                  // latency, breakers, outcomes
//   const router = new Router({ catalog, signals, defaults: config.routing });
//   const plan = router.plan(request, { agentPolicy, now });
//   // executor: signals.tryAcquire → call → signals.recordAttempt({...})
export * from './types.js';
export { classify } from './classify.js';
export { resolvePolicy, PolicyError, DEFAULT_BAR } from './policy.js';
export { Router, seededRandom, type RouterOptions } from './router.js';
export { Signals, SignalsInputError, type SignalsOptions, type SignalsState, type OfferingSignals } from './signals.js';
export { isAvailabilityFailure, DEFAULT_BREAKER_OPTIONS, type BreakerOptions } from './breaker.js';
export { DEFAULT_LATENCY_OPTIONS, type LatencyOptions, type LatencyStats } from './latency.js';
export { priorMean, TASK_DIFFICULTY, DEFAULT_OUTCOME_OPTIONS, type OutcomeOptions } from './outcomes.js';
export { estimateInputTokens, DEFAULT_MAX_OUTPUT_TOKENS, EXPECTED_OUTPUT_TOKENS, IMAGE_TOKENS } from './estimate.js';
