// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self and inclusive shares per
// function, and self time per module (our src files by path, dependencies by package name).
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionShare {
  fn: string;
  where: string;
  /** Share of all non-idle samples, percent. */
  pct: number;
  ms: number;
}

export interface ProfileSummary {
  /** Wall time covered, ms. */
  durationMs: number;
  /** Time the thread was busy (not idle), ms. */
  busyMs: number;
  topSelf: FunctionShare[];
  topInclusive: FunctionShare[];
  byModule: { module: string; pct: number; ms: number }[];
}

const IDLE = new Set(['(idle)']);

/** `src/chain/appender.ts`, `graphql-yoga`, `node:internal/...` or `(native)`. */
export function moduleOf(url: string): string {
  if (!url) return '(native/V8)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1).replace(/\?.*$/, '');
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url.replace(/^file:\/\//, '');
}

function where(cf: CallFrame): string {
  const m = moduleOf(cf.url);
  return cf.url ? `${m}:${cf.lineNumber + 1}` : m;
}

/** Summarizes a profile (a .cpuprofile file or the object the inspector's Profiler.stop returns). */
export function summarizeProfile(profile: string | CpuProfile, top = 25): ProfileSummary {
  const p = typeof profile === 'string' ? (JSON.parse(readFileSync(profile, 'utf8')) as CpuProfile) : profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample: the delta to the next sample (the last one gets the mean).
  const deltas = p.timeDeltas;
  const n = p.samples.length;
  const mean = n > 0 ? (p.endTime - p.startTime) / n : 0;
  const sampleUs = (i: number): number => (i + 1 < n ? Math.max(0, deltas[i + 1]!) : mean);

  const selfUs = new Map<string, { cf: CallFrame; us: number }>();
  const inclUs = new Map<string, { cf: CallFrame; us: number }>();
  const moduleUs = new Map<string, number>();
  let busyUs = 0;
  let allUs = 0;
  const keyOf = (cf: CallFrame) => `${cf.functionName || '(anonymous)'}\u0000${cf.url}:${cf.lineNumber}:${cf.columnNumber}`;
  for (let i = 0; i < n; i++) {
    const us = sampleUs(i);
    allUs += us;
    const node = byId.get(p.samples[i]!);
    if (!node || IDLE.has(node.callFrame.functionName)) continue;
    busyUs += us;
    const k = keyOf(node.callFrame);
    const s = selfUs.get(k) ?? { cf: node.callFrame, us: 0 };
    s.us += us;
    selfUs.set(k, s);
    const mod = ['(program)', '(garbage collector)'].includes(node.callFrame.functionName) ? node.callFrame.functionName : moduleOf(node.callFrame.url);
    moduleUs.set(mod, (moduleUs.get(mod) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets this sample once.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (cf.functionName === '(root)') break;
      const key = keyOf(cf);
      if (seen.has(key)) continue;
      seen.add(key);
      const e = inclUs.get(key) ?? { cf, us: 0 };
      e.us += us;
      inclUs.set(key, e);
    }
  }
  const pct = (us: number) => Math.round((1000 * us) / Math.max(1, busyUs)) / 10;
  const ms = (us: number) => Math.round(us / 1000);
  const rank = (m: Map<string, { cf: CallFrame; us: number }>) =>
    [...m.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.cf.functionName || '(anonymous)', where: where(e.cf), pct: pct(e.us), ms: ms(e.us) }));
  return {
    durationMs: ms(allUs),
    busyMs: ms(busyUs),
    topSelf: rank(selfUs),
    topInclusive: rank(inclUs),
    byModule: [...moduleUs.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, pct: pct(us), ms: ms(us) })),
  };
}
