// The live trace table: newest first, at most `buffer.max` rows in the DOM. New rows are prepended in
// one batch per animation frame, so thousands of entries a second cost one layout per frame. Rows are a
// single tab stop (roving tabindex): arrows move, Enter or Space verifies, as does a click.
import { h } from './dom.js';
import { clockTime, shortHash, target } from './format.js';
import type { TraceBuffer, TraceRow } from './trace-buffer.js';

export interface TraceViewOptions {
  body: HTMLTableSectionElement;
  empty: HTMLElement;
  buffer: TraceBuffer;
  onSelect(row: TraceRow): void;
  isSimulated(provider: string | null): boolean;
}

export class TraceView {
  private readonly rows = new Map<number, HTMLTableRowElement>();
  private readonly marks = new Map<number, 'ok' | 'bad'>();
  private selected: number | null = null;
  private frame = 0;
  private pausedFlag = false;

  constructor(private readonly o: TraceViewOptions) {
    o.body.addEventListener('click', (e) => {
      const tr = (e.target as Element).closest('tr');
      if (tr?.dataset.seq) this.activate(Number(tr.dataset.seq), false);
    });
    o.body.addEventListener('keydown', (e) => this.onKey(e));
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  /** While paused the table stands still (rows keep arriving into the buffer); resuming redraws it. */
  setPaused(p: boolean): void {
    this.pausedFlag = p;
    if (!p) this.redraw();
  }

  /** Schedule a render of rows added to the buffer since the last one. */
  schedule(): void {
    if (this.pausedFlag || this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  setMark(seq: number, state: 'ok' | 'bad'): void {
    this.marks.set(seq, state);
    const tr = this.rows.get(seq);
    if (tr) this.paintMark(tr, seq);
  }

  private flush(): void {
    const added = this.o.buffer.takeAdded();
    if (added === 0) return;
    const view = this.o.buffer.view();
    if (added >= view.length || this.rows.size === 0) {
      this.redraw();
      return;
    }
    const frag = document.createDocumentFragment();
    for (let i = 0; i < added; i++) {
      const r = view[i]!;
      if (this.rows.has(r.seq)) continue;
      const tr = this.renderRow(r, true);
      frag.append(tr);
    }
    this.o.body.prepend(frag);
    this.trim();
    this.syncTabStop();
  }

  private redraw(): void {
    this.o.buffer.takeAdded();
    const view = this.o.buffer.view();
    const focusedSeq = this.focusedSeq();
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const r of view) frag.append(this.renderRow(r, false));
    this.o.body.replaceChildren(frag);
    this.o.empty.hidden = view.length > 0;
    for (const seq of [...this.marks.keys()]) if (!this.rows.has(seq)) this.marks.delete(seq);
    this.syncTabStop();
    if (focusedSeq !== null) this.rows.get(focusedSeq)?.focus();
  }

  private trim(): void {
    const max = this.o.buffer.max;
    this.o.empty.hidden = this.o.body.rows.length > 0;
    while (this.o.body.rows.length > max) {
      const last = this.o.body.lastElementChild as HTMLTableRowElement;
      const seq = Number(last.dataset.seq);
      const hadFocus = document.activeElement === last;
      last.remove();
      this.rows.delete(seq);
      this.marks.delete(seq);
      if (hadFocus) (this.o.body.lastElementChild as HTMLElement | null)?.focus();
    }
  }

  private renderRow(r: TraceRow, fresh: boolean): HTMLTableRowElement {
    const tgt = target(r.model, r.provider);
    const sim = this.o.isSimulated(r.provider);
    const tr = h(
      'tr',
      { 'data-seq': r.seq, tabindex: -1, 'aria-selected': this.selected === r.seq ? 'true' : 'false', class: fresh ? 'fresh' : null },
      h('td', { class: 't-time', title: r.time }, h('time', { datetime: r.time }, clockTime(r.time))),
      h('td', { title: `${r.hash} · ${r.agent}` }, h('span', { class: 't-hash' }, shortHash(r.hash)), h('span', { class: 't-sep', 'aria-hidden': 'true' }, '·'), h('span', { class: 't-agent' }, r.agent)),
      h(
        'td',
        { title: tgt ? `${r.kind} · ${tgt}` : r.kind },
        h('span', { class: `kind kind-${r.kind.replace(/[^a-z0-9_]/g, '')}` }, r.kind),
        tgt ? h('span', { class: 't-target' }, h('span', { class: 't-sep', 'aria-hidden': 'true' }, '·'), tgt) : null,
        sim ? h('span', { class: 'tag sim', title: 'served by the simulated provider fleet' }, 'sim') : null,
      ),
      h('td', { class: 'num t-seq' }, String(r.seq)),
    );
    this.rows.set(r.seq, tr);
    this.paintMark(tr, r.seq);
    return tr;
  }

  private paintMark(tr: HTMLTableRowElement, seq: number): void {
    const cell = tr.cells[3];
    if (!cell) return;
    cell.querySelector('.v-mark')?.remove();
    const m = this.marks.get(seq);
    if (m) cell.append(h('span', { class: `v-mark ${m}`, title: m === 'ok' ? 'verified in this browser' : 'failed verification' }, m === 'ok' ? '✓' : '✗'));
  }

  private focusedSeq(): number | null {
    const a = document.activeElement;
    return a instanceof HTMLTableRowElement && a.parentElement === this.o.body ? Number(a.dataset.seq) : null;
  }

  /** Exactly one row is in the tab order: the selected one if shown, else the newest. */
  private syncTabStop(): void {
    const focused = this.focusedSeq();
    const stop = (focused !== null && this.rows.get(focused)) || (this.selected !== null && this.rows.get(this.selected)) || (this.o.body.firstElementChild as HTMLTableRowElement | null);
    for (const tr of this.o.body.querySelectorAll<HTMLTableRowElement>('tr[tabindex="0"]')) if (tr !== stop) tr.tabIndex = -1;
    if (stop) stop.tabIndex = 0;
  }

  private activate(seq: number, focus: boolean): void {
    const row = this.o.buffer.find(seq);
    if (!row) return;
    if (this.selected !== null) this.rows.get(this.selected)?.setAttribute('aria-selected', 'false');
    this.selected = seq;
    const tr = this.rows.get(seq);
    tr?.setAttribute('aria-selected', 'true');
    if (focus) tr?.focus();
    this.syncTabStop();
    this.o.onSelect(row);
  }

  private onKey(e: KeyboardEvent): void {
    const tr = (e.target as Element).closest('tr');
    if (!tr || tr.parentElement !== this.o.body) return;
    let next: Element | null = null;
    switch (e.key) {
      case 'Enter':
      case ' ':
        e.preventDefault();
        this.activate(Number(tr.dataset.seq), true);
        return;
      case 'ArrowDown':
        next = tr.nextElementSibling;
        break;
      case 'ArrowUp':
        next = tr.previousElementSibling;
        break;
      case 'Home':
        next = this.o.body.firstElementChild;
        break;
      case 'End':
        next = this.o.body.lastElementChild;
        break;
      default:
        return;
    }
    e.preventDefault();
    if (next instanceof HTMLTableRowElement) {
      tr.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }
}
