// The executor plugs into the gateway's ExecuteFn boundary without adapters in between.
import { describe, expect, it } from 'vitest';
import type { ExecuteFn } from '../../src/gateway/execute-port.js';
import { createExecutor } from '../../src/routing/execute.js';

describe('executor boundary', () => {
  it('is assignable to the gateway ExecuteFn', () => {
    const fn: ExecuteFn = createExecutor({
      adapters: { get: () => undefined },
      signals: { recordAttempt: () => undefined, tryAcquire: () => true },
    });
    expect(typeof fn).toBe('function');
  });
});
