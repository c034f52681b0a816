// Crash recovery: a process that dies between the hold and the refund leaves its decision `pending` with
// the hold still taken. The sweep finds pending decisions older than any live call can be, gives their
// hold back, marks them failed and says so on the chain (a `refunded` entry, reason recovered_after_crash).
//
// Exactly once across processes: a decision is claimed with the store's conditional update (only while
// still `pending`) BEFORE its hold is released, so two sweeps - or a sweep and the call itself, should it
// outlive its deadline - can never both release it. The price of claim-then-release: a crash between the
// two loses that one release (logged nowhere, the process is gone); the reverse order could pay twice.
import { logger } from '../log.js';
import type { DecisionRecord, Store } from '../store/port.js';
import type { GatewayAppender } from './types.js';

export const RECOVERED_REASON = 'recovered_after_crash';

/** Beyond the routing deadline: clock skew between processes, settling the chain, store latency. */
export const RECOVERY_MARGIN_MS = 60_000;

export interface RecoveryDeps {
  store: Store;
  appender: GatewayAppender;
  /** Pending decisions created longer ago than this are abandoned (routing deadline + margin). */
  olderThanMs: number;
  now?: () => number;
}

export interface SweepResult {
  /** Decisions this sweep settled. */
  recovered: number;
  /** Money given back to agents, micro-USD. */
  releasedMicros: number;
}

const PAGE = 100;

/** One pass over the abandoned pending decisions. Safe to run concurrently in any number of processes. */
export async function sweepAbandoned(deps: RecoveryDeps): Promise<SweepResult> {
  const { store, appender } = deps;
  const now = deps.now ?? Date.now;
  const until = new Date(now() - deps.olderThanMs).toISOString();
  const result: SweepResult = { recovered: 0, releasedMicros: 0 };
  let after: string | undefined;
  for (;;) {
    const page = await store.decisions.list({ outcome: 'pending', until }, PAGE, after);
    for (const d of page.items) {
      try {
        if (await recoverOne(store, appender, d, now)) {
          result.recovered++;
          result.releasedMicros += d.holdMicros;
        }
      } catch (err) {
        logger.error({ err, decision: d.id, micros: d.holdMicros }, 'could not recover an abandoned decision');
      }
    }
    if (!page.hasNextPage || page.items.length === 0) return result;
    after = page.items[page.items.length - 1]!.id;
  }
}

async function recoverOne(store: Store, appender: GatewayAppender, d: DecisionRecord, now: () => number): Promise<boolean> {
  const message = 'the process handling this call stopped before it finished; the hold was released';
  const detail = d.detail && typeof d.detail === 'object' ? { ...(d.detail as Record<string, unknown>), message, recovered: { reason: RECOVERED_REASON, at: new Date(now()).toISOString() } } : d.detail;
  const claimed = await store.decisions.updateIfPending(d.id, { outcome: 'failed', costMicros: 0, detail });
  if (!claimed) return false; // settled meanwhile, by its call or another sweep: theirs to release
  const holdMicros = claimed.holdMicros;
  if (holdMicros > 0) await store.accounts.release(d.agentId, holdMicros);
  logger.warn({ decision: d.id, agent: d.agentId, micros: holdMicros }, 'released the hold of a decision abandoned by a crashed process');
  // The chain says what moved: the whole hold back, nothing charged. Nothing was held, nothing to say.
  if (holdMicros > 0) {
    const [agent] = await store.accounts.agentsByIds([d.agentId]);
    const env = await appender.append({
      kind: 'refunded',
      agent: agent?.handle ?? d.agentId,
      decision: d.id,
      fields: { holdMicros, costMicros: 0, refundMicros: holdMicros, reason: RECOVERED_REASON },
    });
    await store.decisions.update(d.id, { chainSeqs: [...claimed.chainSeqs, env.seq] });
  }
  return true;
}

export interface RecoveryLoop {
  /** Run a sweep now (joins one already running). */
  sweep(): Promise<SweepResult>;
  /** Stop the timer and wait for a running sweep. */
  stop(): Promise<void>;
}

/** Sweeps now and then every `everyMs` (unref'd timer); a failed sweep is logged and retried next time. */
export function startRecovery(deps: RecoveryDeps, everyMs: number): RecoveryLoop {
  let running: Promise<SweepResult> | null = null;
  const sweep = () =>
    (running ??= sweepAbandoned(deps).finally(() => {
      running = null;
    }));
  const tick = () =>
    void sweep().then(
      (r) => r.recovered > 0 && logger.info(r, 'crash recovery released abandoned holds'),
      (err: unknown) => logger.warn({ err }, 'crash-recovery sweep failed; retried at the next interval'),
    );
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
