// Recent decisions of one agent (private: the agent's key is needed). The key is typed into the page,
// kept in sessionStorage only (gone when the tab closes), and sent only as the Authorization header of
// POST /graphql on this same origin.
import { gql, GraphQLRequestError } from './api.js';
import { byId, clear, h } from './dom.js';
import { clockTime, ms, pct, target, usdString } from './format.js';

export const KEY_STORAGE = 'ainfera.agentKey';

export interface CandidateData {
  model: string;
  provider: string;
  eligible: boolean;
  rank: number;
  explored: boolean;
  finishProbability: number;
  expectedCost: { usd: string };
  predictedLatencyMs: number;
  refusals: { kind: string; message: string }[];
}

export interface DecisionData {
  id: string;
  createdAt: string;
  taskType: string;
  model: string | null;
  provider: string | null;
  outcome: string;
  cost: { usd: string };
  latencyMs: number | null;
  candidates: CandidateData[];
  attempts: { n: number; model: string; provider: string; ok: boolean; errorClass: string | null }[];
}

export const DECISIONS_QUERY = /* GraphQL */ `
  query PageDecisions($first: Int) {
    me { handle balance { usd } }
    decisions(first: $first) {
      edges { node {
        id createdAt taskType model provider outcome cost { usd } latencyMs
        candidates { model provider eligible rank explored finishProbability expectedCost { usd } predictedLatencyMs refusals { kind message } }
        attempts { n model provider ok errorClass }
      } }
    }
  }
`;

/** One sentence on why the winner won, from the scored candidates and the attempts. */
export function whyWinner(d: DecisionData): string {
  const eligible = d.candidates.filter((c) => c.eligible).sort((a, b) => a.rank - b.rank);
  const refused = d.candidates.length - eligible.length;
  const byKind = new Map<string, number>();
  for (const c of d.candidates) if (!c.eligible) for (const r of c.refusals.slice(0, 1)) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
  const refusedText = refused
    ? `; ${refused} refused (${[...byKind].map(([k, n]) => `${n} ${k.toLowerCase().replace(/_/g, ' ')}`).join(', ')})`
    : '';
  const first = eligible[0];
  if (!first) return `No eligible model${refusedText}.`;
  const answered = d.candidates.find((c) => c.model === d.model && c.provider === d.provider);
  const failedBefore = d.attempts.filter((a) => !a.ok);
  let text = `${target(first.model, first.provider)} ranked first of ${eligible.length} eligible${first.explored ? ' (exploration pick)' : ''}: finish ${pct(first.finishProbability)}, expected ${usdString(first.expectedCost.usd)}, ~${ms(first.predictedLatencyMs)}`;
  if (answered && answered !== first) {
    text += `; it failed (${failedBefore.map((a) => a.errorClass ?? 'error').join(', ') || 'error'}), so rank ${answered.rank} ${target(answered.model, answered.provider)} answered`;
  }
  return text + refusedText + '.';
}

export class DecisionsView {
  private readonly form = byId<HTMLFormElement>('key-form');
  private readonly input = byId<HTMLInputElement>('agent-key');
  private readonly out = byId('decisions-out');
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly storage: Storage | null) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const key = this.input.value.trim();
      if (!key) return;
      try {
        this.storage?.setItem(KEY_STORAGE, key);
      } catch {
        // storage unavailable: the key lives in the field for this page only
      }
      void this.load();
      this.poll();
    });
    byId('key-forget').addEventListener('click', () => {
      try {
        this.storage?.removeItem(KEY_STORAGE);
      } catch {
        // nothing to forget
      }
      this.input.value = '';
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      clear(this.out);
    });
    const saved = this.key();
    if (saved) {
      this.input.value = saved;
      void this.load();
      this.poll();
    } else {
      this.out.append(h('p', { class: 'empty' }, 'Enter an agent key to see its recent decisions: the candidates and why the winner won.'));
    }
  }

  private key(): string | null {
    try {
      return this.storage?.getItem(KEY_STORAGE) ?? (this.input.value.trim() || null);
    } catch {
      return this.input.value.trim() || null;
    }
  }

  private poll(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (document.visibilityState === 'visible') void this.load();
    }, 5000);
  }

  async load(): Promise<void> {
    const key = this.key();
    if (!key) return;
    try {
      const data = await gql<{ me: { handle: string; balance: { usd: string } } | null; decisions: { edges: { node: DecisionData }[] } }>(DECISIONS_QUERY, { first: 10 }, key);
      this.render(data.me, data.decisions.edges.map((e) => e.node));
    } catch (err) {
      const msg = err instanceof GraphQLRequestError && err.codes.includes('UNAUTHENTICATED') ? 'That key was not accepted.' : `Could not load decisions: ${err instanceof Error ? err.message : String(err)}`;
      clear(this.out);
      this.out.append(h('p', { class: 'error', role: 'alert' }, msg));
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    }
  }

  private render(me: { handle: string; balance: { usd: string } } | null, list: DecisionData[]): void {
    const open = new Set([...this.out.querySelectorAll<HTMLDetailsElement>('details[open]')].map((d) => d.dataset.id));
    clear(this.out);
    if (me) this.out.append(h('p', { class: 'hint' }, `Agent ${me.handle} · balance ${usdString(me.balance.usd)}`));
    if (list.length === 0) {
      this.out.append(h('p', { class: 'empty' }, 'No decisions yet for this agent.'));
      return;
    }
    const table = h(
      'table',
      { class: 'decisions-table' },
      h('caption', { class: 'visually-hidden' }, 'Recent decisions, newest first'),
      h('thead', {}, h('tr', {}, ...['Time', 'Task', 'Winner', 'Outcome', 'Cost', 'Latency'].map((c) => h('th', { scope: 'col' }, c)))),
    );
    const tbody = h('tbody');
    for (const d of list) {
      const cands = [...d.candidates].sort((a, b) => (a.eligible === b.eligible ? a.rank - b.rank : a.eligible ? -1 : 1));
      tbody.append(
        h(
          'tr',
          {},
          h('td', { class: 't-time', title: d.createdAt }, clockTime(d.createdAt)),
          h('td', {}, d.taskType),
          h('td', {}, target(d.model, d.provider) || '–'),
          h('td', { class: `kind kind-${d.outcome.toLowerCase() === 'completed' ? 'completed' : d.outcome.toLowerCase() === 'pending' ? 'routed' : 'rejected'}` }, d.outcome.toLowerCase()),
          h('td', { class: 'num' }, usdString(d.cost.usd)),
          h('td', { class: 'num' }, ms(d.latencyMs)),
        ),
        h(
          'tr',
          {},
          h(
            'td',
            { colspan: 6, class: 'why' },
            whyWinner(d),
            h(
              'details',
              { 'data-id': d.id, open: open.has(d.id) },
              h('summary', {}, `${d.candidates.length} candidates`),
              h(
                'ol',
                { class: 'cands' },
                ...cands.map((c) =>
                  h(
                    'li',
                    { class: c.model === d.model && c.provider === d.provider ? 'winner' : null },
                    `${target(c.model, c.provider)}: `,
                    c.eligible ? `rank ${c.rank}, finish ${pct(c.finishProbability)}, ${usdString(c.expectedCost.usd)}, ~${ms(c.predictedLatencyMs)}${c.explored ? ', explored' : ''}` : `refused: ${c.refusals.map((r) => r.message).join('; ')}`,
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    }
    table.append(tbody);
    this.out.append(h('div', { class: 'table-wrap' }, table));
  }
}
