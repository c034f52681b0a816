// What the kernel says about a process (Linux /proc): resident memory now and at its peak, and CPU time
// used, so a server in a child process is measured on its own, not together with the load generator.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on Linux x86 and arm). */
const CLK_TCK = 100;

export interface ProcMemory {
  /** Resident set size now, MiB. */
  rssMiB: number;
  /** Peak resident set size since the process started (VmHWM), MiB. */
  peakRssMiB: number;
}

function statusField(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** VmRSS and VmHWM of a process, in MiB (NaN when /proc is unavailable or the process is gone). */
export function procMemory(pid: number): ProcMemory {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssMiB: statusField(text, 'VmRSS'), peakRssMiB: statusField(text, 'VmHWM') };
  } catch {
    return { rssMiB: Number.NaN, peakRssMiB: Number.NaN };
  }
}

/** User + system CPU time of a process (all its threads), in ms. */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** The 1-minute load average now (the machine is shared: a high value means noisy numbers). */
export function load1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/**
 * Samples a process's resident memory every `everyMs` while running; `peakMiB` is the larger of the
 * sampled maximum and the kernel's own high-water mark (VmHWM), which catches peaks between samples.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  private maxSampled = 0;
  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    const m = procMemory(this.pid);
    if (Number.isFinite(m.rssMiB)) this.maxSampled = Math.max(this.maxSampled, m.rssMiB);
  }

  /** Stops sampling; returns the peak and the current RSS (MiB). */
  stop(): { peakMiB: number; sampledMaxMiB: number; lastMiB: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const m = procMemory(this.pid);
    return {
      peakMiB: Math.max(this.maxSampled, Number.isFinite(m.peakRssMiB) ? m.peakRssMiB : 0),
      sampledMaxMiB: this.maxSampled,
      lastMiB: m.rssMiB,
    };
  }
}

/** CPU time (ms) per thread name of a process (/proc/<pid>/task/<tid>/comm), e.g. main thread vs workers. */
export function procThreadCpuMs(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
      // The main thread's tid is the pid; name it apart from worker threads that share its comm.
      const key = tid === String(pid) ? 'main' : name;
      out[key] = (out[key] ?? 0) + ms;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/** Per-thread-name CPU used between two procThreadCpuMs snapshots (threads that started in between count from 0). */
export function threadCpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) out[k] = Math.round(v - (before[k] ?? 0));
  return out;
}
