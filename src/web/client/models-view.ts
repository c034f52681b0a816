// The models scatter plot (intelligence index against output speed, the product's chart) in plain SVG,
// one point per model: colour = breaker state, size = live traffic, filled = measured live speed,
// hollow = reference speed only; when both exist a dashed line joins the reference ring to the live point.
// Every point is focusable and has the same tooltip on hover and on focus; a table carries the same data.
import { byId, clear, h, s } from './dom.js';
import { ms, pct, tps, usdString } from './format.js';
import { layoutScatter, type BreakerState, type ScatterInput } from './scatter-layout.js';

export interface ModelData {
  id: string;
  name: string;
  vendor: string;
  intelligenceIndex: number;
  referenceTokensPerSecond: number;
  simulated: boolean;
  health: string;
  price: { inputPerMTok: { usd: string }; outputPerMTok: { usd: string }; source: string } | null;
  latency: { p50Ms: number | null; tokensPerSecond: number | null; samples: number; source: string } | null;
  offerings: { provider: string; simulated: boolean; breaker: { state: string } }[];
  outcomes: { taskType: string; calls: number; successes: number; finishRate: number }[];
}

export const MODELS_QUERY = /* GraphQL */ `
  query PageModels {
    models(orderBy: INDEX) {
      id name vendor intelligenceIndex referenceTokensPerSecond simulated health
      price { inputPerMTok { usd } outputPerMTok { usd } source }
      latency { p50Ms tokensPerSecond samples source }
      offerings { provider simulated breaker { state } }
      outcomes { taskType calls successes finishRate }
    }
  }
`;

export function breakerState(v: string | undefined): BreakerState {
  const k = (v ?? '').toLowerCase();
  return k === 'closed' || k === 'open' || k === 'half_open' ? k : 'open';
}

const STATE_TEXT: Record<BreakerState, string> = { closed: 'closed (healthy)', half_open: 'half-open (probing)', open: 'open (not used)' };

/** Live speed only when measured on our own calls (the API falls back to the reference otherwise). */
export function liveSpeed(m: ModelData): number | null {
  const l = m.latency;
  return l && l.source.toUpperCase() === 'MEASURED' && l.tokensPerSecond != null && l.tokensPerSecond > 0 ? l.tokensPerSecond : null;
}

export function traffic(m: ModelData): number {
  return m.outcomes.reduce((n, o) => n + (Number.isFinite(o.calls) ? o.calls : 0), 0);
}

/** Observed finish rate when there were calls; else the router's prior estimate (labelled as such). */
export function finishRate(m: ModelData): { value: number | null; observed: boolean } {
  const calls = traffic(m);
  if (calls > 0) return { value: m.outcomes.reduce((n, o) => n + o.successes, 0) / calls, observed: true };
  if (m.outcomes.length === 0) return { value: null, observed: false };
  return { value: m.outcomes.reduce((n, o) => n + o.finishRate, 0) / m.outcomes.length, observed: false };
}

function providers(m: ModelData): string {
  return m.offerings.map((o) => `${o.provider}${o.simulated ? ' (simulated)' : ''}${breakerState(o.breaker.state) !== 'closed' ? ` [${breakerState(o.breaker.state).replace('_', '-')}]` : ''}`).join(', ') || '–';
}

function price(m: ModelData): string {
  return m.price ? `${usdString(m.price.inputPerMTok.usd)} in · ${usdString(m.price.outputPerMTok.usd)} out /MTok` : '–';
}

function ariaLabel(m: ModelData): string {
  const live = liveSpeed(m);
  return `${m.name}: index ${m.intelligenceIndex}, ${live != null ? `live ${tps(live)}, reference ${tps(m.referenceTokensPerSecond)}` : `reference ${tps(m.referenceTokensPerSecond)}`}, breaker ${STATE_TEXT[breakerState(m.health)]}, ${traffic(m)} calls`;
}

export class ModelsView {
  private readonly chart = byId('models-chart');
  private readonly table = byId('models-table');
  private readonly tip = byId('chart-tooltip');
  private readonly panel: HTMLElement;
  private byId = new Map<string, ModelData>();
  private tipFor: string | null = null;
  private last: readonly ModelData[] | null = null;
  private drawnWidth = 0;

  constructor() {
    // Lay the chart out at its real pixel width, so labels keep their size on a phone.
    new ResizeObserver(() => {
      if (this.last && Math.abs(this.chart.clientWidth - this.drawnWidth) > 24) this.render(this.last);
    }).observe(this.chart);
    this.panel = this.tip.parentElement as HTMLElement;
    this.chart.addEventListener('pointerover', (e) => this.pointEvent(e, true));
    this.chart.addEventListener('pointerout', (e) => this.pointEvent(e, false));
    this.chart.addEventListener('focusin', (e) => this.pointEvent(e, true));
    this.chart.addEventListener('focusout', (e) => this.pointEvent(e, false));
    this.chart.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.hideTip();
    });
  }

  render(models: readonly ModelData[]): void {
    this.last = models;
    this.byId = new Map(models.map((m) => [m.id, m]));
    const focused = document.activeElement instanceof SVGElement ? document.activeElement.getAttribute('data-model') : null;
    const inputs: ScatterInput[] = models.map((m) => ({
      id: m.id,
      intelligenceIndex: m.intelligenceIndex,
      referenceSpeed: m.referenceTokensPerSecond,
      liveSpeed: liveSpeed(m),
      state: breakerState(m.health),
      traffic: traffic(m),
    }));
    this.drawnWidth = this.chart.clientWidth;
    const width = Math.round(Math.max(300, Math.min(960, this.drawnWidth || 720)));
    const L = layoutScatter(inputs, width, width < 520 ? 300 : 380);
    const { plot } = L;
    const svg = s('svg', { viewBox: `0 0 ${L.width} ${L.height}`, role: 'group', 'aria-labelledby': 'models-heading', 'aria-describedby': 'models-hint' });
    const grid = s('g', { class: 'grid', 'aria-hidden': 'true' });
    const axes = s('g', { class: 'axis', 'aria-hidden': 'true' });
    for (const t of L.xTicks) {
      grid.append(s('line', { x1: t.pos, x2: t.pos, y1: plot.top, y2: plot.bottom }));
      axes.append(s('text', { x: t.pos, y: plot.bottom + 16, 'text-anchor': 'middle' }, String(t.value)));
    }
    for (const t of L.yTicks) {
      grid.append(s('line', { x1: plot.left, x2: plot.right, y1: t.pos, y2: t.pos }));
      axes.append(s('text', { x: plot.left - 8, y: t.pos + 4, 'text-anchor': 'end' }, String(t.value)));
    }
    axes.append(
      s('line', { x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }),
      s('line', { x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }),
      s('text', { class: 'axis-title', x: (plot.left + plot.right) / 2, y: L.height - 6, 'text-anchor': 'middle' }, 'Output speed (tokens/s, log scale)'),
      s('text', { class: 'axis-title', x: 12, y: (plot.top + plot.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(plot.top + plot.bottom) / 2})` }, 'Intelligence index'),
    );
    const refs = s('g', { class: 'refs', 'aria-hidden': 'true' });
    const pts = s('g', { class: 'points' });
    // Largest first, so small points stay clickable on top of big ones.
    const order = [...L.points].sort((a, b) => b.r - a.r);
    for (const p of order) {
      const m = this.byId.get(p.id)!;
      if (p.refX !== null) {
        refs.append(s('line', { class: 'ref-link', x1: p.refX, y1: p.cy, x2: p.cx, y2: p.cy }), s('circle', { class: 'ref-marker', cx: p.refX, cy: p.cy, r: 3.5 }));
      }
      pts.append(
        s('circle', {
          class: `point ${p.state}${p.referenceOnly ? ' reference-only' : ''}`,
          cx: p.cx,
          cy: p.cy,
          r: p.r,
          tabindex: 0,
          role: 'img',
          'data-model': p.id,
          'aria-label': ariaLabel(m),
        }),
      );
    }
    svg.append(grid, axes, refs, pts);
    clear(this.chart);
    this.chart.append(svg);
    if (focused) (svg.querySelector(`[data-model="${CSS.escape(focused)}"]`) as SVGElement | null)?.focus();
    if (this.tipFor && this.byId.has(this.tipFor)) this.showTip(this.tipFor);
    else this.hideTip();
    this.renderTable(models);
  }

  private pointEvent(e: Event, on: boolean): void {
    const el = e.target instanceof Element ? e.target.closest('[data-model]') : null;
    if (!el) return;
    const id = el.getAttribute('data-model')!;
    if (on) this.showTip(id);
    else if (this.tipFor === id) this.hideTip();
  }

  private showTip(id: string): void {
    const m = this.byId.get(id);
    const el = this.chart.querySelector(`[data-model="${CSS.escape(id)}"]`);
    if (!m || !el) return;
    this.chart.querySelector('.point.hover')?.classList.remove('hover');
    el.classList.add('hover');
    this.tipFor = id;
    const live = liveSpeed(m);
    const fr = finishRate(m);
    const rows: [string, string][] = [
      ['Vendor', m.vendor],
      ['Provider', providers(m)],
      ['Price', price(m)],
      ['Index', String(m.intelligenceIndex)],
      ['Speed', live != null ? `${tps(live)} live · ${tps(m.referenceTokensPerSecond)} ref` : `${tps(m.referenceTokensPerSecond)} (reference)`],
      ['p50 latency', m.latency?.source.toUpperCase() === 'MEASURED' ? `${ms(m.latency.p50Ms)} live` : 'not measured yet'],
      ['Finish rate', fr.value == null ? '–' : `${pct(fr.value)}${fr.observed ? '' : ' (prior)'}`],
      ['Traffic', `${traffic(m)} calls`],
      ['Breaker', STATE_TEXT[breakerState(m.health)]],
    ];
    this.tip.replaceChildren(
      h('h3', {}, m.name, m.simulated ? h('span', { class: 'tag sim' }, 'simulated') : null),
      h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    );
    this.tip.hidden = false;
    const pr = this.panel.getBoundingClientRect();
    const er = el.getBoundingClientRect();
    const tw = this.tip.offsetWidth;
    const th = this.tip.offsetHeight;
    let left = er.right - pr.left + 10;
    if (left + tw > pr.width - 4) left = er.left - pr.left - tw - 10;
    left = Math.max(4, left);
    let top = er.top - pr.top + er.height / 2 - th / 2;
    top = Math.max(4, Math.min(top, pr.height - th - 4));
    this.tip.style.left = `${Math.round(left)}px`;
    this.tip.style.top = `${Math.round(top)}px`;
  }

  private hideTip(): void {
    this.tip.hidden = true;
    this.tipFor = null;
    this.chart.querySelector('.point.hover')?.classList.remove('hover');
  }

  private renderTable(models: readonly ModelData[]): void {
    const t = h(
      'table',
      { class: 'models-list' },
      h('caption', { class: 'visually-hidden' }, 'Models with their live signals'),
      h(
        'thead',
        {},
        h('tr', {}, ...['Model', 'Vendor', 'Providers', 'Index', 'Ref speed', 'Live speed', 'p50', 'Finish', 'Calls', 'Breaker', 'Price /MTok'].map((c) => h('th', { scope: 'col' }, c))),
      ),
      h(
        'tbody',
        {},
        ...models.map((m) => {
          const fr = finishRate(m);
          return h(
            'tr',
            {},
            h('th', { scope: 'row' }, m.name),
            h('td', {}, m.vendor),
            h('td', {}, providers(m)),
            h('td', { class: 'num' }, String(m.intelligenceIndex)),
            h('td', { class: 'num' }, tps(m.referenceTokensPerSecond)),
            h('td', { class: 'num' }, tps(liveSpeed(m))),
            h('td', { class: 'num' }, m.latency?.source.toUpperCase() === 'MEASURED' ? ms(m.latency.p50Ms) : '–'),
            h('td', { class: 'num' }, fr.value == null ? '–' : `${pct(fr.value)}${fr.observed ? '' : '*'}`),
            h('td', { class: 'num' }, String(traffic(m))),
            h('td', {}, STATE_TEXT[breakerState(m.health)]),
            h('td', {}, price(m)),
          );
        }),
      ),
    );
    clear(this.table);
    this.table.append(t, h('p', { class: 'hint' }, '* the router’s prior estimate: no calls yet.'));
  }
}
