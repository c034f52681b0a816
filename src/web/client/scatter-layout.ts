// Geometry of the models scatter plot: intelligence index (y, linear) against output speed (x, log),
// one point per model. Pure (no DOM) so the mapping is unit-tested under node; models-view draws it.

export type BreakerState = 'closed' | 'half_open' | 'open';

export interface ScatterInput {
  id: string;
  intelligenceIndex: number;
  referenceSpeed: number;
  /** Measured live output speed, or null while only the reference is known. */
  liveSpeed: number | null;
  state: BreakerState;
  /** Live traffic (calls seen); sizes the point. */
  traffic: number;
}

export interface ScatterPoint {
  id: string;
  cx: number;
  cy: number;
  r: number;
  state: BreakerState;
  /** True when the point sits at the reference speed (no live measurement yet). */
  referenceOnly: boolean;
  /** Where the reference speed sits, when the point shows the live one. */
  refX: number | null;
}

export interface Tick {
  value: number;
  pos: number;
}

export interface ScatterLayout {
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  xTicks: Tick[];
  yTicks: Tick[];
  points: ScatterPoint[];
}

export const MIN_R = 4;
export const MAX_R = 15;

const SPEED_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

export function layoutScatter(models: readonly ScatterInput[], width = 720, height = 380): ScatterLayout {
  const plot = { left: 46, top: 14, right: width - 14, bottom: height - 40 };
  const speeds: number[] = [];
  for (const m of models) {
    if (m.referenceSpeed > 0) speeds.push(m.referenceSpeed);
    if (m.liveSpeed != null && m.liveSpeed > 0) speeds.push(m.liveSpeed);
  }
  const sMin = speeds.length ? Math.min(...speeds) : 10;
  const sMax = speeds.length ? Math.max(...speeds) : 1000;
  // Pad by a fraction of a decade so points never sit on the frame.
  const lo = Math.log10(Math.max(0.5, sMin)) - 0.08;
  const hi = Math.max(lo + 0.5, Math.log10(sMax) + 0.08);
  const x = (s: number) => plot.left + ((Math.log10(Math.max(0.5, s)) - lo) / (hi - lo)) * (plot.right - plot.left);

  const idx = models.map((m) => m.intelligenceIndex).filter(Number.isFinite);
  const iMin = idx.length ? Math.floor((Math.min(...idx) - 2) / 10) * 10 : 0;
  const iMax = idx.length ? Math.ceil((Math.max(...idx) + 2) / 10) * 10 : 100;
  const yLo = Math.max(0, iMin);
  const yHi = Math.max(yLo + 10, iMax);
  const y = (v: number) => plot.bottom - ((v - yLo) / (yHi - yLo)) * (plot.bottom - plot.top);

  const maxTraffic = Math.max(0, ...models.map((m) => (Number.isFinite(m.traffic) ? m.traffic : 0)));
  const radius = (t: number) => (maxTraffic > 0 && t > 0 ? MIN_R + (MAX_R - MIN_R) * Math.sqrt(t / maxTraffic) : MIN_R);

  const points = models.map<ScatterPoint>((m) => {
    const live = m.liveSpeed != null && m.liveSpeed > 0 ? m.liveSpeed : null;
    return {
      id: m.id,
      cx: round(x(live ?? m.referenceSpeed)),
      cy: round(y(m.intelligenceIndex)),
      r: round(radius(m.traffic)),
      state: m.state,
      referenceOnly: live === null,
      refX: live === null ? null : round(x(m.referenceSpeed)),
    };
  });

  let xTicks = SPEED_TICKS.filter((t) => Math.log10(t) >= lo && Math.log10(t) <= hi).map((t) => ({ value: t, pos: round(x(t)) }));
  // On a narrow chart keep labels apart: fall back to powers of ten (plus 1-2-5 steps if that leaves too few).
  if (xTicks.length > 1 && (plot.right - plot.left) / xTicks.length < 44) {
    const decades = xTicks.filter((t) => Number.isInteger(Math.log10(t.value)));
    xTicks = decades.length >= 2 ? decades : xTicks.filter((_, i) => i % 2 === 0);
  }
  const yTicks: Tick[] = [];
  const step = yHi - yLo > 50 ? 20 : 10;
  for (let v = yLo; v <= yHi; v += step) yTicks.push({ value: v, pos: round(y(v)) });
  return { width, height, plot, xTicks, yTicks, points };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
