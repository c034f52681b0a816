// The accounts domain: agents, API keys, balances, policies.
export * from './accounts.js';
export * from './errors.js';
export * from './keys.js';
export * from './money.js';
