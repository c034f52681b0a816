// The executor as the gateway sees it: a narrow boundary so the gateway does not depend on the executor's
// internals. src/routing/execute.ts provides the implementation; gateway.ts adapts its result to AttemptView.
import type { EventInput } from '../chain/types.js';
import type { ProviderResult, ToolCallResult, Usage } from '../providers/types.js';
import type { PlanOk, RouteRequest } from '../routing/types.js';

/** Emits one chain event for this decision (agent handle and decision id are bound by the gateway). */
export type BoundEmit = (event: Omit<EventInput, 'agent' | 'decision'>) => Promise<{ seq: number }>;

export interface ExecuteInput {
  plan: PlanOk;
  request: RouteRequest;
  emit: BoundEmit;
  /** The gateway awaits every emitted event before answering: the executor need not (see routing's ExecuteInput). */
  callerAwaitsEmits?: boolean;
  signal?: AbortSignal;
  /** `from` names the attempt producing the text when the executor knows it. */
  onDelta?: (text: string, from?: { modelId: string; providerId: string }) => void;
  /** Money already held for this call: attempts must stay inside it. */
  budgetMicros: number;
}

/** One attempt as the executor reports it (loose on purpose: adapted field by field). */
export interface ExecutedAttempt {
  modelId: string;
  providerId: string;
  result?: ProviderResult;
  ok?: boolean;
  error?: { class: string; detail?: string; status?: number; message: string } | null;
  costMicros?: number;
  latencyMs?: number;
  ttftMs?: number | null;
  usage?: Usage | null;
}

export interface ExecuteOutput {
  ok: boolean;
  modelId?: string | null;
  providerId?: string | null;
  content?: string;
  toolCalls?: ToolCallResult[];
  finishReason?: string;
  usage?: Usage | null;
  costMicros?: number;
  attempts: ExecutedAttempt[];
  simulated?: boolean;
  aborted?: boolean;
  message?: string;
}

export type ExecuteFn = (input: ExecuteInput) => Promise<ExecuteOutput>;
