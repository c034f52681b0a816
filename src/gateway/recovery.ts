// Crash recovery: money a dead process left held, given back exactly once, from any number of processes.
//
// A hold lives in the accounts ledger keyed by its decision (store port: hold / settleHold / openHolds),
// and settling it is exactly-once by itself: of any number of settlers one gets `settled: true`, and only
// that one appends the `refunded` chain entry. So the sweep never needs to own a release; it only has to
// charge what the call would have charged, and that is decided by the decision record:
// - a decision still `pending` past the routing deadline was abandoned: the sweep claims it (the store's
//   conditional update; one claimer wins), marks it failed, and settles its hold with charge 0;
// - a decision already settled whose hold is still open (the process died between settling the decision
//   and settling the hold): the hold is settled with the cost the decision records. Its call, should it
//   still be alive, settles with that same cost, so whichever of them gets there first is right.
// A call says its settlement on the chain (its own `refunded` entry, with the charge) before it moves any
// money (gateway.ts, "The money"). So a decision the sweep finds pending may already have that entry
// durable: the sweep then settles with the charge the chain states and adds no entry of its own, so the
// chain and the ledger never disagree. Only without it does the sweep charge 0 and say so itself.
// The sweep works in two passes: pending decisions past the deadline (also those that never took a hold,
// so none stays pending forever), then open holds past the deadline (what the first pass cannot see: a
// settled decision with an open hold).
//
// Holds migrated from before the ledger (OpenHold.migrated) follow the old rule, under which whoever
// settled the decision also released its hold: the sweep gives one back only if it is the one claiming
// the pending decision now; a migrated hold whose decision someone else settled is closed with no refund.
// Likewise a pending decision claimed with no ledger hold but a holdMicros recorded (written by a process
// of that older version still running beside this one) is credited back by its claimer.
import { logger } from '../log.js';
import type { DecisionRecord, OpenHold, Store } from '../store/port.js';
import type { GatewayAppender } from './types.js';

export const RECOVERED_REASON = 'recovered_after_crash';

/** Beyond the routing deadline: clock skew between processes, settling the chain, store latency. */
export const RECOVERY_MARGIN_MS = 60_000;

export interface RecoveryDeps {
  store: Store;
  appender: GatewayAppender;
  /** Pending decisions and open holds created longer ago than this are abandoned (routing deadline + margin). */
  olderThanMs: number;
  now?: () => number;
}

export interface SweepResult {
  /** Abandoned decisions and holds this sweep settled. */
  recovered: number;
  /** Money given back to agents, micro-USD. */
  releasedMicros: number;
}

const PAGE = 100;

/** Told where each sweep begins and ends (health: src/server/observe.ts, RecoveryWatch). */
export interface SweepObserver {
  sweepStarted(): void;
  /** `error`: what the sweep threw; null when it ran to its end (a call failing on one item is logged and skipped). */
  sweepEnded(error: unknown): void;
}

const sweepObservers = new WeakMap<Store, SweepObserver>();

/**
 * Tell `observer` where each sweep run on this exact store object begins and ends, so it can judge one
 * sweep at a time (a failure is over when a later sweep runs clean, whatever that sweep had to do).
 * Keyed by the store because the store is what the composition root hands the sweep: the health watch
 * wraps it and registers its wrapper, and no caller of startRecovery has to pass anything more.
 */
export function observeSweeps(store: Store, observer: SweepObserver): void {
  sweepObservers.set(store, observer);
}

/** One pass over abandoned decisions and holds. Safe to run concurrently in any number of processes. */
export async function sweepAbandoned(deps: RecoveryDeps): Promise<SweepResult> {
  const observer = sweepObservers.get(deps.store);
  if (!observer) return sweepPasses(deps);
  observer.sweepStarted();
  try {
    const result = await sweepPasses(deps);
    observer.sweepEnded(null);
    return result;
  } catch (err) {
    observer.sweepEnded(err);
    throw err;
  }
}

async function sweepPasses(deps: RecoveryDeps): Promise<SweepResult> {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  const until = new Date(now() - deps.olderThanMs).toISOString();
  const result: SweepResult = { recovered: 0, releasedMicros: 0 };
  const count = (refund: number | null) => {
    if (refund === null) return;
    result.recovered++;
    result.releasedMicros += refund;
  };

  let after: string | undefined;
  for (;;) {
    const page = await store.decisions.list({ outcome: 'pending', until }, PAGE, after);
    for (const d of page.items) {
      try {
        count(await recoverPending(deps, d));
      } catch (err) {
        logger.error({ err, decision: d.id }, 'could not recover an abandoned decision');
      }
    }
    if (!page.hasNextPage || page.items.length === 0) break;
    after = page.items[page.items.length - 1]!.id;
  }

  let cursor: OpenHold | undefined;
  for (;;) {
    const holds = await store.accounts.openHolds(until, PAGE, cursor);
    const decisions = await store.decisions.byIds(holds.map((h) => h.decisionId));
    for (const [i, h] of holds.entries()) {
      try {
        count(await recoverHold(deps, h, decisions[i] ?? null));
      } catch (err) {
        logger.error({ err, decision: h.decisionId, micros: h.micros }, 'could not settle an abandoned hold');
      }
    }
    if (holds.length < PAGE) return result;
    cursor = holds[holds.length - 1];
  }
}

/**
 * Claims an abandoned pending decision and gives its whole hold back. Returns the refund, or null when
 * another process settled the decision first (its hold is then that settler's, or the holds pass's).
 */
async function recoverPending(deps: RecoveryDeps, d: DecisionRecord): Promise<number | null> {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  const said = await settlementOnChain(store, d.agentId, d.id);
  const message = said
    ? 'the process handling this call stopped after recording its settlement on the chain; settled with that charge'
    : 'the process handling this call stopped before it finished; the hold was released';
  const detail = d.detail && typeof d.detail === 'object' ? { ...(d.detail as Record<string, unknown>), message, recovered: { reason: RECOVERED_REASON, at: new Date(now()).toISOString() } } : d.detail;
  const claimed = await store.decisions.updateIfPending(
    d.id,
    said
      ? { outcome: said.answeredBy ? 'completed' : 'failed', ...(said.answeredBy ?? {}), costMicros: said.costMicros, holdMicros: said.holdMicros, chainSeqs: said.seqs, detail }
      : { outcome: 'failed', costMicros: 0, detail },
  );
  if (!claimed) return null;
  if (said) {
    // The chain already says what moved: settle to match it, and say nothing more.
    const s = await store.accounts.settleHold(d.agentId, d.id, said.costMicros);
    if (!s.settled) return 0;
    logger.warn({ decision: d.id, agent: d.agentId, micros: s.refundMicros, chargeMicros: said.costMicros }, 'settled the hold of a decision abandoned by a crashed process with the charge its call had put on the chain');
    return s.refundMicros;
  }
  // A hold is only ever settled after its decision left `pending`, so the claimer finds it still open.
  const s = await store.accounts.settleHold(d.agentId, d.id, 0);
  let holdMicros = s.refundMicros;
  if (!s.settled && claimed.holdMicros > 0) {
    // No ledger hold, yet a hold recorded on the pending decision: taken by a process of the version
    // before the ledger. Its rule applies - the claimer releases - with its crash window (once, at upgrade).
    holdMicros = claimed.holdMicros;
    await store.accounts.credit(d.agentId, holdMicros);
  } else if (!s.settled) {
    return 0; // it never took a hold (died before it, or was refused): nothing to give back or to say
  }
  logger.warn({ decision: d.id, agent: d.agentId, micros: holdMicros }, 'released the hold of a decision abandoned by a crashed process');
  await sayRefunded(deps, d.agentId, d.id, holdMicros, 0, claimed.chainSeqs);
  return holdMicros;
}

/** Settles an open hold past the deadline with the charge its decision records. Null: another settler won. */
async function recoverHold(deps: RecoveryDeps, h: OpenHold, found: DecisionRecord | null): Promise<number | null> {
  const { store } = deps;
  // A decision of another agent is not this hold's: as good as none (ids are unique; never expected).
  let d = found && found.agentId === h.agentId ? found : null;
  if (d?.outcome === 'pending') {
    const refund = await recoverPending(deps, d);
    if (refund !== null) return refund;
    // Settled just now by someone else: settle the hold with what they decided.
    d = (await store.decisions.byIds([h.decisionId]))[0] ?? null;
    if (d?.outcome === 'pending') return null;
  }
  let charge: number;
  if (!d) {
    charge = 0; // a hold with no decision record: nobody was served; give it all back
    logger.warn({ decision: h.decisionId, agent: h.agentId, micros: h.micros }, 'an open hold has no decision record; giving it back');
  } else if (h.migrated) {
    charge = h.micros; // settled by code that released holds itself: close the entry, refund nothing
  } else {
    charge = Math.min(d.costMicros, h.micros);
  }
  const s = await store.accounts.settleHold(h.agentId, h.decisionId, charge);
  if (!s.settled) return null;
  if (h.migrated && d) return 0; // nothing moved, nothing to say
  logger.warn({ decision: h.decisionId, agent: h.agentId, micros: s.refundMicros, chargeMicros: charge }, 'settled the hold of a decision whose process died before giving it back');
  // Its call said this settlement on the chain before settling the decision; only older calls did not.
  if (!(await settlementOnChain(store, h.agentId, h.decisionId))) await sayRefunded(deps, h.agentId, h.decisionId, h.micros, charge, d?.chainSeqs ?? null);
  return s.refundMicros;
}

interface ChainSettlement {
  holdMicros: number;
  costMicros: number;
  /** The answering route when the chain shows the call completed. */
  answeredBy: { model: string; provider: string } | null;
  seqs: number[];
}

/**
 * The settlement a call recorded on the chain before moving money: its own `refunded` entry (not one a
 * sweep wrote), durable. Null when the call died before that entry landed.
 */
async function settlementOnChain(store: Store, agentId: string, decisionId: string): Promise<ChainSettlement | null> {
  // A batch durable only in an unfinished MongoDB link is finished by reading the head: otherwise its
  // entries (this call's settlement among them) would be invisible here though already durable.
  await store.chain.head();
  const entries = await store.chain.entriesOfDecision(decisionId);
  if (entries.length === 0) return null;
  // Only the decision's own agent's entries count (ids are unique; never trust one that says otherwise).
  const [agent] = await store.accounts.agentsByIds([agentId]);
  const own = entries.filter((e) => e.agent === agent?.handle);
  let found: ChainSettlement | null = null;
  let answeredBy: ChainSettlement['answeredBy'] = null;
  for (const e of own) {
    if (e.kind !== 'refunded' && e.kind !== 'completed') continue;
    const body = JSON.parse(e.canonical) as Record<string, unknown>;
    const route = typeof body.model === 'string' && typeof body.provider === 'string' ? { model: body.model, provider: body.provider } : null;
    if (e.kind === 'completed') {
      answeredBy = route ?? answeredBy;
    } else if (body.reason === undefined && isMicros(body.costMicros) && isMicros(body.holdMicros) && body.costMicros <= body.holdMicros) {
      // The call's own settlement (a sweep's carries a reason). It names the answering route when answered.
      found = { holdMicros: body.holdMicros, costMicros: body.costMicros, answeredBy: route, seqs: [] };
    }
  }
  return found && { ...found, answeredBy: found.answeredBy ?? answeredBy, seqs: own.map((e) => e.seq) };
}

function isMicros(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The chain says what moved (never what is left), and the decision lists the entry. Called only by the settler. */
async function sayRefunded(deps: RecoveryDeps, agentId: string, decisionId: string, holdMicros: number, costMicros: number, chainSeqs: number[] | null): Promise<void> {
  const { store, appender } = deps;
  const [agent] = await store.accounts.agentsByIds([agentId]);
  const env = await appender.append({
    kind: 'refunded',
    agent: agent?.handle ?? agentId,
    decision: decisionId,
    fields: { holdMicros, costMicros, refundMicros: holdMicros - costMicros, reason: RECOVERED_REASON },
  });
  // holdMicros too: a pending decision shows 0 until settled, and a recovered one was never settled by its call.
  if (chainSeqs) await store.decisions.update(decisionId, { holdMicros, chainSeqs: [...chainSeqs, env.seq] });
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
