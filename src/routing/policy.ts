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
  // Five layers in order; resolved field by field without building intermediate objects (hot path).
  const agentTask = agent?.byTaskType?.[taskType];
  const c0 = request.caps;
  const c1 = agentTask?.caps;
  const c2 = agent?.caps;
  const c4 = defaults.caps;
  const defaultTaskBar = defaults.bar?.[taskType];

  let costCeilingMicros: number | null = null;
  let costSource: PolicySource = 'none';
  if (c0?.costCeilingMicros != null) { costCeilingMicros = c0.costCeilingMicros; costSource = 'call'; }
  else if (c1?.costCeilingMicros != null) { costCeilingMicros = c1.costCeilingMicros; costSource = 'agent_task'; }
  else if (c2?.costCeilingMicros != null) { costCeilingMicros = c2.costCeilingMicros; costSource = 'agent'; }
  else if (c4?.costCeilingMicros != null) { costCeilingMicros = c4.costCeilingMicros; costSource = 'default'; }

  let latencyTargetMs: number | null = null;
  let latencySource: PolicySource = 'none';
  if (c0?.latencyTargetMs != null) { latencyTargetMs = c0.latencyTargetMs; latencySource = 'call'; }
  else if (c1?.latencyTargetMs != null) { latencyTargetMs = c1.latencyTargetMs; latencySource = 'agent_task'; }
  else if (c2?.latencyTargetMs != null) { latencyTargetMs = c2.latencyTargetMs; latencySource = 'agent'; }
  else if (c4?.latencyTargetMs != null) { latencyTargetMs = c4.latencyTargetMs; latencySource = 'default'; }

  let bar: number;
  let barSource: PolicySource;
  if (c0?.minFinishProbability != null) { bar = c0.minFinishProbability; barSource = 'call'; }
  else if (c1?.minFinishProbability != null) { bar = c1.minFinishProbability; barSource = 'agent_task'; }
  else if (c2?.minFinishProbability != null) { bar = c2.minFinishProbability; barSource = 'agent'; }
  else if (defaultTaskBar != null) { bar = defaultTaskBar; barSource = 'default_task'; }
  else { bar = c4?.minFinishProbability ?? defaults.defaultBar ?? DEFAULT_BAR; barSource = 'default'; }

  let pin: Pin | null = null;
  let pinSource: PolicySource = 'none';
  if (hasPin(request.pin)) { pin = request.pin; pinSource = 'call'; }
  else if (hasPin(agentTask?.pin)) { pin = agentTask.pin; pinSource = 'agent_task'; }
  else if (hasPin(agent?.pin)) { pin = agent.pin; pinSource = 'agent'; }

  return {
    costCeilingMicros,
    latencyTargetMs,
    minFinishProbability: bar,
    pin,
    sources: { costCeilingMicros: costSource, latencyTargetMs: latencySource, minFinishProbability: barSource, pin: pinSource },
  };
}

function hasPin(pin: Pin | undefined): pin is Pin {
  return !!pin && !!(pin.model || pin.provider);
}
