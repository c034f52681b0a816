// Caps, pins and the bar, resolved field by field: per call > per task type (agent) > per agent >
// defaults for the task type > defaults. Each resolved value says which layer it came from, so a
// decision can explain why a cap applied.
import type { Caps, Pin, PolicySource, ResolvedCaps, RouteRequest, RoutingDefaults, RoutingPolicy, TaskType } from './types.js';

/** The bar when nothing else sets one (config.routing.defaultBar's default). */
export const DEFAULT_BAR = 0.6;

/** A policy value out of range; `field` names it. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Layer = { source: PolicySource; caps?: Caps; pin?: Pin };

function pick<K extends keyof Caps>(layers: readonly Layer[], key: K): { value: Caps[K]; source: PolicySource } {
  for (const l of layers) {
    const v = l.caps?.[key];
    if (v !== undefined && v !== null) return { value: v, source: l.source };
  }
  return { value: undefined, source: 'none' };
}

function checkCaps(caps: Caps | undefined, field: string): void {
  if (!caps) return;
  const c = caps.costCeilingMicros;
  if (c !== undefined && (!Number.isSafeInteger(c) || c < 0)) throw new PolicyError(`${field}.costCeilingMicros`, 'must be a non-negative integer (micro-USD)');
  const l = caps.latencyTargetMs;
  if (l !== undefined && (!Number.isFinite(l) || l <= 0)) throw new PolicyError(`${field}.latencyTargetMs`, 'must be a positive number of ms');
  const p = caps.minFinishProbability;
  if (p !== undefined && (!Number.isFinite(p) || p < 0 || p > 1)) throw new PolicyError(`${field}.minFinishProbability`, 'must be between 0 and 1');
}

/** Resolves the effective caps, bar and pin for one call. Throws PolicyError on an out-of-range value. */
export function resolvePolicy(
  request: Pick<RouteRequest, 'caps' | 'pin'>,
  taskType: TaskType,
  agent: RoutingPolicy | undefined,
  defaults: RoutingDefaults = {},
): ResolvedCaps {
  checkCaps(request.caps, 'caps');
  const agentTask = agent?.byTaskType?.[taskType];
  const defaultBar = defaults.bar?.[taskType];
  const layers: Layer[] = [
    { source: 'call', caps: request.caps, pin: request.pin },
    { source: 'agent_task', caps: agentTask?.caps, pin: agentTask?.pin },
    { source: 'agent', caps: agent?.caps, pin: agent?.pin },
    { source: 'default_task', caps: defaultBar !== undefined ? { minFinishProbability: defaultBar } : undefined },
    { source: 'default', caps: { ...defaults.caps, minFinishProbability: defaults.caps?.minFinishProbability ?? defaults.defaultBar ?? DEFAULT_BAR } },
  ];
  const cost = pick(layers, 'costCeilingMicros');
  const latency = pick(layers, 'latencyTargetMs');
  const bar = pick(layers, 'minFinishProbability');
  let pin: Pin | null = null;
  let pinSource: PolicySource = 'none';
  for (const l of layers) {
    if (l.pin && (l.pin.model || l.pin.provider)) {
      pin = l.pin;
      pinSource = l.source;
      break;
    }
  }
  return {
    costCeilingMicros: cost.value ?? null,
    latencyTargetMs: latency.value ?? null,
    minFinishProbability: bar.value ?? DEFAULT_BAR,
    pin,
    sources: { costCeilingMicros: cost.source, latencyTargetMs: latency.source, minFinishProbability: bar.source, pin: pinSource },
  };
}
