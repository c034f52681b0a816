// The trace's rows: the last `max` entries seen, newest first, in seq order with no duplicate.
// Pure (no DOM) so the bounding and ordering rules are unit-tested under node.

export interface TraceRow {
  seq: number;
  time: string;
  hash: string;
  agent: string;
  kind: string;
  model: string | null;
  provider: string | null;
  keyId: string;
}

export class TraceBuffer {
  /** Newest first. */
  private rows: TraceRow[] = [];
  /** Highest seq accepted, -1 before the first. */
  private last = -1;
  /** Rows accepted since the last `takeAdded()` (for incremental rendering), bounded by `max`. */
  private added = 0;

  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
  }

  get lastSeq(): number {
    return this.last;
  }

  get size(): number {
    return this.rows.length;
  }

  /** Newest first; a copy is not made (callers must not mutate). */
  view(): readonly TraceRow[] {
    return this.rows;
  }

  /**
   * Accept rows in ascending seq order. Rows at or below the last seq are duplicates and ignored.
   * Returns how many were accepted.
   */
  push(batch: readonly TraceRow[]): number {
    const fresh: TraceRow[] = [];
    for (const r of batch) {
      if (r.seq <= this.last) continue;
      this.last = r.seq;
      fresh.push(r);
    }
    if (fresh.length === 0) return 0;
    // Only the newest `max` can survive; prepend them newest first and trim.
    const keep = fresh.length > this.max ? fresh.slice(fresh.length - this.max) : fresh;
    keep.reverse();
    this.rows = keep.concat(this.rows);
    if (this.rows.length > this.max) this.rows.length = this.max;
    this.added = Math.min(this.max, this.added + fresh.length);
    return fresh.length;
  }

  /** How many of the newest rows are new since the previous call (at most `max`). */
  takeAdded(): number {
    const n = this.added;
    this.added = 0;
    return n;
  }

  find(seq: number): TraceRow | undefined {
    return this.rows.find((r) => r.seq === seq);
  }
}
