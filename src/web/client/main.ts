// The live trace page: wires the views to the server. Entry of the browser bundle built at server start.
import type { PublicKeyInfo } from '../../chain/types.js';
import { audit, gql } from './api.js';
import { CheckpointMemory, isAlarm, type CheckOutcome, type StorageLike } from './checkpoint-memory.js';
import { byId, h } from './dom.js';
import { groupInt } from './format.js';
import { LiveFeed, type ChainEvent, type FeedState } from './live.js';
import { MODELS_QUERY, ModelsView, type ModelData } from './models-view.js';
import { DecisionsView } from './decisions-view.js';
import { TraceBuffer, type TraceRow } from './trace-buffer.js';
import { TraceView } from './trace-view.js';
import { verifyCheckpointNote, verifyConsistencyNotes } from './verifier.js';
import { VerifyView } from './verify-view.js';

/** Rows kept (in memory and in the DOM): the page's memory stays bounded however long it runs.
 * index.html states it on the table body (data-max-rows) so the page's tests read the same number. */
const MAX_ROWS = Number(document.getElementById('trace-body')?.dataset.maxRows) || 100;
/** Rows replayed on load so the table is not empty. */
const BACKFILL = 30;
const MODELS_REFRESH_MS = 5000;
const CHECKPOINT_CHECK_MIN_MS = 2000;

function storage(kind: 'localStorage' | 'sessionStorage'): Storage | null {
  try {
    const s = window[kind];
    const probe = '__ainfera_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

/** In-memory stand-in when storage is disabled: checks still hold for this page's lifetime. */
function memoryStorage(): StorageLike {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

function rowOf(ev: ChainEvent): TraceRow {
  const e = ev.entry;
  return {
    seq: ev.seq,
    time: typeof e.time === 'string' ? e.time : '',
    hash: ev.hash,
    agent: typeof e.agent === 'string' ? e.agent : '',
    kind: typeof e.kind === 'string' ? e.kind : '?',
    model: typeof e.model === 'string' ? e.model : null,
    provider: typeof e.provider === 'string' ? e.provider : null,
    keyId: ev.keyId,
  };
}

function start(): void {
  const simulatedProviders = new Set<string>();
  const buffer = new TraceBuffer(MAX_ROWS);
  const blockEl = byId('block-height');
  const sizeEl = byId('chain-size');
  const indicator = byId('live-indicator');
  const pauseBtn = byId<HTMLButtonElement>('pause-button');
  const logStatus = byId('log-status');
  let feedState: FeedState = 'connecting';
  let feedDetail = '';
  let newWhilePaused = 0;
  let chainSize = 0;
  let height: number | null = null;

  let keysPromise: Promise<PublicKeyInfo[]> | null = null;
  const keys = (refresh = false): Promise<PublicKeyInfo[]> => {
    if (!keysPromise || refresh) {
      keysPromise = audit.keys();
      keysPromise.catch(() => (keysPromise = null));
    }
    return keysPromise;
  };

  const memory = new CheckpointMemory({
    storage: storage('localStorage') ?? memoryStorage(),
    fetchConsistency: audit.consistency,
    verifyConsistency: async (older, newer, proof) => verifyConsistencyNotes(await keys(), older, newer, proof),
  });

  // Log consistency in the header. An alarm (fork, rollback, bad checkpoint signature) stays red until
  // the person chooses to trust the log as it is now.
  let alarm = false;
  const showLog = (state: 'ok' | 'bad' | 'warn', text: string, origin?: string): void => {
    if (alarm && state !== 'bad') return;
    alarm = state === 'bad';
    logStatus.className = `log-status ${state}`;
    logStatus.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'text' }, text));
    if (state === 'bad' && origin) {
      const b = h('button', { type: 'button' }, 'Trust the log as it is now');
      b.addEventListener('click', () => {
        memory.forget(origin);
        alarm = false;
        void checkLatest(true);
      });
      logStatus.append(b);
    }
  };
  const onCheckpoint = (o: CheckOutcome): void => {
    if (isAlarm(o)) showLog('bad', `${o.status === 'fork' ? 'FORKED LOG' : 'ROLLED-BACK LOG'}: ${o.reason}`, o.trusted.origin);
    else if (o.status === 'unchecked') showLog('warn', `Log consistency not checked: ${o.reason}`);
    else showLog('ok', `Log consistent · checkpoint ${groupInt(o.trusted.size)} verified here`);
  };

  let lastCheck = 0;
  let checkTimer: ReturnType<typeof setTimeout> | null = null;
  let checkedSize = -1;
  const checkLatest = async (force = false): Promise<void> => {
    lastCheck = Date.now();
    let note: string;
    try {
      note = await audit.latestCheckpoint();
    } catch {
      return; // no checkpoint yet (empty log) or offline: nothing to check
    }
    let cp;
    try {
      cp = verifyCheckpointNote(note, await keys());
    } catch {
      try {
        cp = verifyCheckpointNote(note, await keys(true));
      } catch (err) {
        showLog('bad', `Checkpoint signature invalid: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    if (!force && cp.size === checkedSize) return;
    checkedSize = cp.size;
    onCheckpoint(await memory.observe(cp, { latest: true }));
  };
  const scheduleCheck = (): void => {
    if (checkTimer) return;
    const wait = Math.max(0, lastCheck + CHECKPOINT_CHECK_MIN_MS - Date.now());
    checkTimer = setTimeout(() => {
      checkTimer = null;
      void checkLatest();
    }, wait);
  };

  const verifyView = new VerifyView({ keys, memory, onResult: (seq, st) => traceView.setMark(seq, st), onCheckpoint });
  const traceView: TraceView = new TraceView({
    body: byId<HTMLTableSectionElement>('trace-body'),
    empty: byId('trace-empty'),
    buffer,
    onSelect: (row) => void verifyView.show(row),
    isSimulated: (p) => p !== null && simulatedProviders.has(p),
  });

  const paintIndicator = (): void => {
    let cls: string = feedState;
    let text: string;
    if (traceView.paused) {
      cls = 'paused';
      text = newWhilePaused ? `Paused · ${groupInt(newWhilePaused)} new` : 'Paused';
    } else if (feedState === 'live') text = 'Live';
    else if (feedState === 'connecting') text = 'Connecting…';
    else text = 'Reconnecting…';
    indicator.className = `indicator ${cls}`;
    indicator.textContent = text;
    indicator.title = feedDetail;
    document.body.dataset.feed = feedState;
  };
  const paintStats = (): void => {
    blockEl.textContent = height === null ? '–' : `#${groupInt(height)}`;
    sizeEl.textContent = groupInt(chainSize);
  };

  pauseBtn.addEventListener('click', () => {
    const p = !traceView.paused;
    newWhilePaused = 0;
    traceView.setPaused(p);
    pauseBtn.setAttribute('aria-pressed', String(p));
    pauseBtn.textContent = p ? 'Resume' : 'Pause';
    paintIndicator();
  });

  const onEvent = (ev: ChainEvent): void => {
    buffer.push([rowOf(ev)]);
    if (traceView.paused) newWhilePaused++;
    chainSize = Math.max(chainSize, ev.seq + 1);
    if (ev.checkpointHeight !== null && (height === null || ev.checkpointHeight > height)) height = ev.checkpointHeight;
    if (ev.checkpointSize !== null && ev.checkpointSize > checkedSize) scheduleCheck();
    traceView.schedule();
    if (traceView.paused) paintIndicator();
    paintStats();
  };

  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;
  void (async () => {
    let fromSeq = 0;
    try {
      const head = await gql<{ chainHead: { size: number; checkpoint: { height: number; size: number } | null } }>('query { chainHead { size checkpoint { height size } } }');
      chainSize = head.chainHead.size;
      height = head.chainHead.checkpoint?.height ?? null;
      fromSeq = Math.max(0, chainSize - BACKFILL);
      paintStats();
    } catch {
      // GraphQL over HTTP unavailable: the subscription still starts from the beginning
    }
    const feed = new LiveFeed({
      url: wsUrl,
      fromSeq,
      onEvent,
      onState: (st, d) => {
        feedState = st;
        feedDetail = d.error ?? '';
        paintIndicator();
      },
    });
    feed.start();
    void checkLatest();
  })();

  const models = new ModelsView();
  const loadModels = async (): Promise<void> => {
    try {
      const data = await gql<{ models: ModelData[] }>(MODELS_QUERY);
      simulatedProviders.clear();
      for (const m of data.models) for (const o of m.offerings) if (o.simulated) simulatedProviders.add(o.provider);
      const anySim = data.models.some((m) => m.simulated);
      byId('sim-banner').hidden = !anySim;
      byId('models-sim').hidden = !anySim;
      models.render(data.models);
    } catch (err) {
      const chart = byId('models-chart');
      if (!chart.querySelector('svg')) chart.replaceChildren(h('p', { class: 'error' }, `Could not load models: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
  void loadModels();
  setInterval(() => {
    if (document.visibilityState === 'visible') void loadModels();
  }, MODELS_REFRESH_MS);

  new DecisionsView(storage('sessionStorage'));
  paintIndicator();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
