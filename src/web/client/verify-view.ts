// The verify panel: one selected entry, fetched from the public REST endpoint (what any third party
// would fetch) and checked here by the shared verifier, shown as a green or red verdict with each step.
import type { PublicKeyInfo } from '../../chain/types.js';
import { audit, type EntryWithProof } from './api.js';
import { isAlarm, type CheckOutcome, type CheckpointMemory } from './checkpoint-memory.js';
import { byId, clear, h } from './dom.js';
import type { TraceRow } from './trace-buffer.js';
import { verdict, verifyServedEntry, type Check, type EntryReport } from './verifier.js';

export interface VerifyViewOptions {
  keys(refresh?: boolean): Promise<PublicKeyInfo[]>;
  memory: CheckpointMemory;
  onResult(seq: number, state: 'ok' | 'bad'): void;
  onCheckpoint(outcome: CheckOutcome): void;
  /** Retries while the entry waits for its first checkpoint (cut about every second). */
  pendingRetries?: number;
  retryDelayMs?: number;
}

const MARK: Record<Check['state'], string> = { ok: '✓', bad: '✗', pending: '…', skipped: '–', warn: '!' };

export function consistencyCheck(o: CheckOutcome): Check {
  const label = 'Consistent with checkpoints seen before';
  switch (o.status) {
    case 'first':
      return { id: 'consistency', label, state: 'ok', detail: `first checkpoint this browser has seen for ${o.trusted.origin}: remembered (size ${o.trusted.size})` };
    case 'same':
      return { id: 'consistency', label, state: 'ok', detail: `the same checkpoint this browser verified before (size ${o.trusted.size})` };
    case 'extended':
      return { id: 'consistency', label, state: 'ok', detail: `consistency proof ${o.from} → ${o.trusted.size} verified: the log only grew` };
    case 'older':
      return { id: 'consistency', label, state: 'ok', detail: `a prefix of the larger checkpoint verified before (size ${o.trusted.size})` };
    case 'unchecked':
      return { id: 'consistency', label, state: 'warn', detail: o.reason };
    case 'fork':
    case 'rollback':
      return { id: 'consistency', label, state: 'bad', detail: `${o.status === 'fork' ? 'FORKED LOG' : 'ROLLED-BACK LOG'}: ${o.reason}` };
  }
}

export class VerifyView {
  private token = 0;
  private readonly body = byId('verify-body');
  private readonly badge = byId('verify-badge');
  private readonly heading = byId('verify-heading');

  constructor(private readonly o: VerifyViewOptions) {}

  async show(row: TraceRow): Promise<void> {
    const token = ++this.token;
    this.setBadge('busy', `Verifying #${row.seq}…`);
    this.heading.textContent = `Verify entry #${row.seq}`;
    clear(this.body);
    this.body.append(h('p', { class: 'hint' }, `Fetching entry ${row.seq} and its inclusion proof from /v1/audit/public/${row.seq}…`));
    try {
      let keys = await this.o.keys();
      let served: EntryWithProof | null = null;
      const retries = this.o.pendingRetries ?? 8;
      for (let i = 0; i <= retries; i++) {
        served = await audit.entry(row.seq);
        if (token !== this.token) return;
        if (served.proof && served.checkpoint) break;
        if (i < retries) {
          this.renderReport(row, served, verifyServedEntry(served, keys, row.hash), null);
          await new Promise((r) => setTimeout(r, this.o.retryDelayMs ?? 1000));
          if (token !== this.token) return;
        }
      }
      if (!served) return;
      if (!keys.some((k) => k.keyId === served!.keyId)) keys = await this.o.keys(true);
      const report = verifyServedEntry(served, keys, row.hash);
      let consistency: Check | null = null;
      if (report.checkpoint) {
        const outcome = await this.o.memory.observe(report.checkpoint, { latest: false });
        this.o.onCheckpoint(outcome);
        consistency = consistencyCheck(outcome);
        if (isAlarm(outcome)) consistency.state = 'bad';
      }
      if (token !== this.token) return;
      this.renderReport(row, served, report, consistency);
    } catch (err) {
      if (token !== this.token) return;
      this.setBadge('bad', `#${row.seq}: could not verify`);
      clear(this.body);
      this.body.append(h('p', { class: 'verdict bad', role: 'alert' }, `Could not fetch entry ${row.seq}: ${err instanceof Error ? err.message : String(err)}`));
      this.o.onResult(row.seq, 'bad');
    }
  }

  private setBadge(state: 'ok' | 'bad' | 'busy' | 'idle', text: string): void {
    this.badge.className = `badge ${state}`;
    this.badge.textContent = text;
  }

  private renderReport(row: TraceRow, served: EntryWithProof, report: EntryReport, consistency: Check | null): void {
    const checks = consistency ? [...report.checks, consistency] : report.checks;
    const v = verdict(checks);
    if (v === 'ok') this.setBadge('ok', `#${row.seq} verified`);
    else if (v === 'bad') this.setBadge('bad', `#${row.seq} FAILED`);
    else this.setBadge('busy', `#${row.seq}: waiting for checkpoint…`);
    if (v !== 'pending') this.o.onResult(row.seq, v);

    const failed = checks.filter((c) => c.state === 'bad');
    const summary =
      v === 'ok'
        ? `Verified in this browser: entry ${row.seq} is signed, included in the signed checkpoint of size ${report.checkpoint?.size ?? '?'}, and the log is consistent with what this browser saw before.`
        : v === 'bad'
          ? `Verification FAILED: ${failed.map((c) => c.label.toLowerCase()).join(', ')}.`
          : 'Signed, waiting for the next checkpoint to prove inclusion…';

    const proof = served.proof;
    clear(this.body);
    this.body.append(
      h('p', { class: `verdict ${v === 'pending' ? '' : v}`, 'data-verdict': v, role: v === 'bad' ? 'alert' : null }, summary),
      h(
        'ol',
        { class: 'checks', 'aria-label': 'Checks' },
        ...checks.map((c) =>
          h(
            'li',
            { class: c.state, 'data-check': c.id },
            h('span', { class: 'mark', 'aria-hidden': 'true' }, MARK[c.state]),
            h('span', { class: 'label' }, h('span', { class: 'visually-hidden' }, `${c.state === 'ok' ? 'passed' : c.state === 'bad' ? 'failed' : c.state}: `), c.label),
            h('span', { class: 'detail' }, c.detail),
          ),
        ),
      ),
      field('Entry (the signed object)', h('pre', {}, JSON.stringify(served.entry, null, 2))),
      field(`Canonical bytes (RFC 8785, computed here${report.canonical ? `, ${new TextEncoder().encode(report.canonical).length} bytes` : ''})`, h('pre', { class: 'bytes', 'data-field': 'canonical' }, report.canonical ?? '—')),
      field('Hash', h('pre', { 'data-field': 'hash' }, `served:   ${served.hash}\ncomputed: ${report.computedHash ?? '—'}`)),
      field('Signature', h('pre', { 'data-field': 'sig' }, `key ${served.keyId}\n${served.sig}`)),
      field(
        'Inclusion proof',
        h('pre', { 'data-field': 'proof' }, proof ? `leaf ${proof.leafIndex} of tree size ${proof.treeSize}\n${proof.hashes.join('\n') || '(no hashes: single-leaf tree)'}` : 'not yet under a checkpoint'),
      ),
      h('details', {}, h('summary', {}, 'Signed checkpoint note'), h('pre', {}, served.checkpoint ?? '—')),
    );
  }
}

function field(title: string, content: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('h3', {}, title), content);
}
