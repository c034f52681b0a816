// `ainfera verify <server-url | export-file>`: checks a whole chain with the pure verifier
// (src/chain/verify.ts, the same code the browser runs; node:crypto injected for speed): every entry
// (hash, signature, key validity, seq, prev link), every checkpoint (signature, origin, no rollback, no
// fork, root = the entries' Merkle root at its size) and, against a server, the served consistency
// proof between each pair of consecutive checkpoints. One-line verdict on stdout; a throttled progress
// line on stderr for long chains; exit 0 (verified), 1 (the chain fails: first bad seq and why),
// 2 (usage, or the source cannot be read).
import { createReadStream, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ChainVerifier, VerifierConfigError, type VerifyFailure } from '../chain/verify.js';
import { parseCheckpoint } from '../chain/checkpoint.js';
import { nodeCrypto } from '../chain/node-crypto.js';
import { CheckpointCursor, EXPORT_FORMAT, EXPORT_VERSION, entryPages, exportLines, type ChainSource } from '../chain/export.js';
import type { StoredCheckpoint } from '../store/port.js';
import type { PublicKeyInfo } from '../chain/types.js';
import { fetchConsistency, httpSource, openLocalSource } from './chain-source.js';
import { UsageError, type CliIo } from './io.js';

const USAGE = `usage: ainfera verify <server-url | export-file> [--state FILE] [--quiet]
       ainfera verify --data-dir DIR [--state FILE]
  server-url   http(s)://host[:port] of an Ainfera server (public endpoints, no account)
  export-file  a file written by "ainfera export" (JSON lines; "-" reads stdin)
  --data-dir   verify the embedded store in DIR directly (its signing-key.json public keys)
  --state FILE remember the latest verified checkpoint in FILE; on later runs the chain must extend it
               (a shorter chain is a rollback, another root at its size a fork)
  --quiet      no progress line
exit status: 0 verified, 1 the chain fails verification (first bad seq and why), 2 usage or unreadable source`;

export type Verdict =
  | {
      ok: true;
      entries: number;
      checkpoints: number;
      consistencyProofs: number;
      root: string;
      latestCheckpointSize: number | null;
      /** Signed-note text of the largest verified checkpoint (what --state remembers). */
      latestCheckpointNote: string | null;
    }
  | {
      ok: false;
      entries: number;
      checkpoints: number;
      reason: string;
      detail: string;
      seq?: number;
      checkpointSize?: number;
      /** 1-based line of an export file, when the failure is tied to one. */
      line?: number;
    };

export interface VerifyOptions {
  /**
   * A checkpoint note verified on an earlier run (--state): the chain must extend it. A chain now
   * shorter than it was rolled back; one with another root at its size forked.
   */
  trusted?: string;
  /** Called now and then with the entries verified so far. */
  onProgress?: (entries: number) => void;
  /** Entries handed to the verifier at once (default 512). */
  batch?: number;
  /** Export files: how many checkpoints may wait ahead of their entries (default MAX_CHECKPOINTS_AHEAD). */
  maxCheckpointsAhead?: number;
}

/**
 * Checkpoints a file may hold ahead of their entries (each waits in the verifier until the entries
 * reach its size). The export writes every checkpoint right after the entry that completes its size,
 * so a consistent chain has none ahead: the cap only bounds memory on a cut or hand-made file.
 */
export const MAX_CHECKPOINTS_AHEAD = 1024;

/** A defect in the export file's own framing (not in the chain). */
class ExportFormatError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

function fromFailure(f: VerifyFailure, v: ChainVerifier | null, checkpoints: number, line?: number): Verdict {
  return {
    ok: false,
    entries: v?.size ?? 0,
    checkpoints,
    reason: f.reason,
    detail: f.detail,
    ...(f.seq !== undefined ? { seq: f.seq } : {}),
    ...(f.checkpointSize !== undefined ? { checkpointSize: f.checkpointSize } : {}),
    ...(line !== undefined ? { line } : {}),
  };
}

/** Size of a remembered checkpoint note (its signature is checked when the verifier adds it). */
function trustedSize(note: string | undefined): number | null {
  if (note === undefined) return null;
  try {
    return parseCheckpoint(note).size;
  } catch (err) {
    throw new UsageError(`the remembered checkpoint (--state) is not a checkpoint: ${(err as Error).message}`);
  }
}

function rolledBack(size: number, trusted: number, v: ChainVerifier | null, checkpoints: number): Verdict {
  return fromFailure(
    { ok: false, reason: 'checkpoint_rollback', detail: `the chain now has ${size} entries, fewer than the checkpoint of size ${trusted} verified on an earlier run`, checkpointSize: trusted },
    v,
    checkpoints,
  );
}

/**
 * Verify an export (JSON lines, docs/export-format.md) as a stream: entries are fed in batches and each
 * checkpoint is checked when the stream reaches it (the export writes it right after its last entry).
 */
export async function verifyLines(lines: AsyncIterable<string> | Iterable<string>, opts: VerifyOptions = {}): Promise<Verdict> {
  const batchSize = opts.batch ?? 512;
  const maxAhead = opts.maxCheckpointsAhead ?? MAX_CHECKPOINTS_AHEAD;
  let v: ChainVerifier | null = null;
  let lineNo = 0;
  let header = false;
  let checkpoints = 0;
  let nextIndex = 0;
  let end: { entries: number; checkpoints: number } | null = null;
  let buf: unknown[] = [];
  let sinceProgress = 0;
  const tSize = trustedSize(opts.trusted);
  let trustedAdded = tSize === null;
  let latestNote: { size: number; note: string } | null = null;
  /** Sizes of the checkpoints added before the entries reached them (ascending; see MAX_CHECKPOINTS_AHEAD). */
  let ahead: number[] = [];
  const noteSeen = (note: string, size: number) => {
    if (!latestNote || size > latestNote.size) latestNote = { size, note };
  };
  // The remembered checkpoint joins the stream in size order: right when the entries reach its size,
  // or before a larger checkpoint, so the verifier matches its root like any other.
  const addTrusted = (): VerifyFailure | null => {
    if (trustedAdded || !v) return null;
    trustedAdded = true;
    let r: ReturnType<ChainVerifier['addCheckpoint']>;
    try {
      r = v.addCheckpoint(opts.trusted!);
    } catch (err) {
      // Entries held at a missing seq moved the count: the stream's own failure is the one to name.
      if (!(err instanceof VerifierConfigError)) throw err;
      const f = v.finish();
      return f.ok ? { ok: false, reason: 'malformed_checkpoint', detail: err.message } : f;
    }
    if (!r.ok) return r;
    noteSeen(opts.trusted!, tSize!);
    return null;
  };

  const flush = (): VerifyFailure | null => {
    if (!v || buf.length === 0) return null;
    if (!trustedAdded && v.size + buf.length >= tSize!) {
      const head = buf.slice(0, Math.max(0, tSize! - v.size));
      buf = buf.slice(head.length);
      const r = head.length ? v.push(head) : v.push([]);
      if (!r.ok) return r;
      const t = addTrusted();
      if (t) return t;
      if (buf.length === 0) return null;
    }
    const r = v.push(buf);
    buf = [];
    if (sinceProgress >= 2048) {
      sinceProgress = 0;
      opts.onProgress?.(v.size);
    }
    return r.ok ? null : r;
  };
  const failAt = (f: VerifyFailure, line?: number) => fromFailure(f, v, checkpoints, line);

  try {
    for await (const raw of lines) {
      lineNo++;
      if (raw.trim() === '') continue;
      if (end) throw new ExportFormatError('content after the "end" record', lineNo);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // A line that is not JSON inside the entries is a damaged entry: name the seq it should be.
        if (v) return failAt({ ok: false, reason: 'malformed_envelope', detail: `line ${lineNo} is not valid JSON`, seq: v.size + buf.length }, lineNo);
        throw new ExportFormatError('not valid JSON', lineNo);
      }
      if (typeof rec !== 'object' || rec === null) throw new ExportFormatError('a record must be a JSON object', lineNo);
      if (!header) {
        if (rec.type !== EXPORT_FORMAT) throw new ExportFormatError(`not an Ainfera chain export (first line must have "type":"${EXPORT_FORMAT}")`, lineNo);
        if (rec.version !== EXPORT_VERSION) throw new ExportFormatError(`unsupported export version ${String(rec.version)}`, lineNo);
        header = true;
        continue;
      }
      switch (rec.type) {
        case 'keys':
          if (v) throw new ExportFormatError('a second "keys" record', lineNo);
          v = new ChainVerifier({ keys: rec.keys as PublicKeyInfo[], crypto: nodeCrypto });
          break;
        case 'entry': {
          if (!v) throw new ExportFormatError('an entry before the "keys" record', lineNo);
          buf.push({ entry: rec.entry, hash: rec.hash, sig: rec.sig, keyId: rec.keyId });
          sinceProgress++;
          if (buf.length >= batchSize) {
            const f = flush();
            if (f) return failAt(f);
          }
          break;
        }
        case 'checkpoint': {
          if (!v) throw new ExportFormatError('a checkpoint before the "keys" record', lineNo);
          const f = flush();
          if (f) return failAt(f);
          if (typeof rec.note !== 'string') return failAt({ ok: false, reason: 'malformed_checkpoint', detail: `checkpoint record on line ${lineNo} has no note` }, lineNo);
          const size = typeof rec.size === 'number' ? rec.size : -1;
          if (ahead.length > 0) ahead = ahead.filter((s) => s > v!.size);
          if (ahead.length >= maxAhead && size > v.size) {
            return failAt(
              {
                ok: false,
                reason: 'truncated',
                detail: `more than ${maxAhead} checkpoints commit to entries after seq ${v.size - 1} that have not come (the export writes each checkpoint right after the entry that completes its size)`,
                seq: v.size,
                checkpointSize: ahead[0]!,
              },
              lineNo,
            );
          }
          if (!trustedAdded && size > tSize!) {
            const t = addTrusted();
            if (t) return failAt(t);
          }
          let r: ReturnType<ChainVerifier['addCheckpoint']>;
          try {
            r = v.addCheckpoint(rec.note);
          } catch (err) {
            // Only the tree's right edge is kept: a checkpoint placed after entries beyond its size
            // cannot be matched any more. The export never writes that order.
            if (!(err instanceof VerifierConfigError)) throw err;
            return failAt({ ok: false, reason: 'malformed_checkpoint', detail: `checkpoint on line ${lineNo} comes after entries beyond its size: ${err.message}` }, lineNo);
          }
          if (!r.ok) return failAt(r, lineNo);
          const cp = r.checkpoint;
          // The unsigned copies beside the note must agree with it, and block heights run 0, 1, 2, …
          if (rec.size !== cp.size || (rec.rootHash !== undefined && rec.rootHash !== `0x${Buffer.from(cp.rootHash).toString('hex')}`)) {
            return failAt({ ok: false, reason: 'malformed_checkpoint', detail: `record's size/rootHash differ from its signed note (size ${cp.size})`, checkpointSize: cp.size }, lineNo);
          }
          if (rec.index !== nextIndex) {
            return failAt({ ok: false, reason: 'malformed_checkpoint', detail: `checkpoint index ${String(rec.index)} where ${nextIndex} was expected (block heights are gap-free)`, checkpointSize: cp.size }, lineNo);
          }
          if (r.status === 'pending' && cp.size > (ahead.at(-1) ?? -1)) ahead.push(cp.size);
          noteSeen(rec.note, cp.size);
          nextIndex++;
          checkpoints++;
          break;
        }
        case 'end':
          end = { entries: Number(rec.entries), checkpoints: Number(rec.checkpoints) };
          break;
        default:
          throw new ExportFormatError(`unknown record type ${JSON.stringify(rec.type)}`, lineNo);
      }
    }
    if (!header) throw new ExportFormatError('empty file', lineNo);
    if (!v) throw new ExportFormatError('no "keys" record', lineNo);
    const f = flush();
    if (f) return failAt(f);
    if (!trustedAdded) {
      if (v.size < tSize!) return rolledBack(v.size, tSize!, v, checkpoints);
      const t = addTrusted();
      if (t) return failAt(t);
    }
    const done = v.finish();
    if (!done.ok) return failAt(done);
    if (!end) return failAt({ ok: false, reason: 'truncated', detail: `the export has no "end" record: it was cut short after seq ${done.size - 1}`, seq: done.size });
    if (end.entries !== done.size) return failAt({ ok: false, reason: 'truncated', detail: `the export says ${end.entries} entries, ${done.size} are present`, seq: Math.min(done.size, end.entries) });
    if (end.checkpoints !== checkpoints) return failAt({ ok: false, reason: 'truncated', detail: `the export says ${end.checkpoints} checkpoints, ${checkpoints} are present` });
    opts.onProgress?.(done.size);
    const latest = latestNote as { size: number; note: string } | null;
    return { ok: true, entries: done.size, checkpoints, consistencyProofs: 0, root: done.root, latestCheckpointSize: latest?.size ?? null, latestCheckpointNote: latest?.note ?? null };
  } catch (err) {
    if (err instanceof ExportFormatError) return { ok: false, entries: v?.size ?? 0, checkpoints, reason: 'malformed_export', detail: `line ${err.line}: ${err.message}`, line: err.line };
    if (err instanceof VerifierConfigError) return { ok: false, entries: 0, checkpoints, reason: 'bad_keys', detail: err.message, line: lineNo };
    throw err;
  }
}

/**
 * Verify a live chain through a source (a server's endpoints or a store) in bounded memory: a page of
 * entries, a page of checkpoints, the verifier's Merkle frontier. The snapshot is the source's head()
 * at the start (docs/export-format.md). Entry pages are split at checkpoint sizes, so each checkpoint
 * (and the remembered one, in size order) is added exactly when the verifier's tree has its size and is
 * matched at once; checkpoints are read page by page as the entries reach them. With `consistency`,
 * the served proof from each checkpoint to the next is checked (only the previous one is kept).
 */
export async function verifySource(
  source: ChainSource,
  opts: VerifyOptions & { consistency?: (from: number, to: number) => Promise<string[]>; pageSize?: number } = {},
): Promise<Verdict> {
  const pageSize = opts.pageSize ?? 1000;
  let v: ChainVerifier;
  try {
    v = new ChainVerifier({ keys: await source.keys(), crypto: nodeCrypto });
  } catch (err) {
    if (err instanceof VerifierConfigError) return { ok: false, entries: 0, checkpoints: 0, reason: 'bad_keys', detail: err.message };
    throw err;
  }
  const head = await source.head();
  const cpCount = head.checkpoint ? head.checkpoint.index + 1 : 0;
  const headSize = head.checkpoint?.size ?? 0;
  const tSize = trustedSize(opts.trusted);
  if (tSize !== null && tSize > headSize) {
    const present = head.entries !== null ? head.entries >= tSize : (await source.entries(tSize - 1, 1)).length > 0;
    if (!present) return rolledBack(head.entries ?? headSize, tSize, v, cpCount);
  }

  const cps = new CheckpointCursor(source, cpCount, pageSize);
  let accepted = 0; // checkpoints checked so far = the next expected block height
  let prev: StoredCheckpoint | null = null; // for the consistency proof to the next one
  let trustedPending = tSize !== null;
  let consistencyProofs = 0;
  const failed = (f: VerifyFailure) => fromFailure(f, v, accepted);
  const add = (note: string): VerifyFailure | null => {
    try {
      const r = v.addCheckpoint(note);
      return r.ok ? null : r;
    } catch (err) {
      // Only when the entries went past its size, which this loop never does; named, not thrown.
      if (!(err instanceof VerifierConfigError)) throw err;
      return { ok: false, reason: 'malformed_checkpoint', detail: err.message };
    }
  };
  const takeCheckpoint = async (cp: StoredCheckpoint): Promise<VerifyFailure | null> => {
    cps.skip();
    if (cp.index !== accepted) return { ok: false, reason: 'malformed_checkpoint', detail: `checkpoint index ${cp.index} where ${accepted} was expected`, checkpointSize: cp.size };
    // The served proof first (it checks both signatures too), as when every proof was checked before
    // any entry: a validly signed checkpoint over another root is `inconsistent_checkpoint` against the
    // previous one. A smaller one has no proof to ask for: adding it names the rollback.
    if (opts.consistency && prev && cp.size >= prev.size) {
      const r = v.verifyConsistencyProof(prev.note, cp.note, await opts.consistency(prev.size, cp.size));
      if (!r.ok) return r;
      consistencyProofs++;
    }
    const f = add(cp.note);
    if (f) return f;
    prev = cp;
    accepted++;
    return null;
  };
  const takeTrusted = (): VerifyFailure | null => {
    trustedPending = false;
    return add(opts.trusted!);
  };
  /**
   * Add what is due at the tree's current size: the log's checkpoints up to it, and the remembered one
   * once every checkpoint of its size or smaller is in (the order a merged, size-sorted list gives).
   * Returns the failure, or the size to stream the entries to before the next checkpoint is due.
   */
  const addDue = async (): Promise<VerifyFailure | number> => {
    for (;;) {
      const cp = await cps.peek();
      if (trustedPending && v.size >= tSize! && (cp === null || cp.size > tSize!)) {
        const f = takeTrusted();
        if (f) return f;
      } else if (cp !== null && cp.size <= v.size) {
        const f = await takeCheckpoint(cp);
        if (f) return f;
      } else {
        return Math.min(cp?.size ?? Infinity, trustedPending ? tSize! : Infinity);
      }
    }
  };

  let pushed = 0;
  let lastProgress = 0;
  let due = await addDue();
  if (typeof due !== 'number') return failed(due);
  for await (const page of entryPages(source, head.entries, pageSize)) {
    for (let at = 0; at < page.length; ) {
      // Never past the next checkpoint's size: it must be added when the tree is exactly there.
      const n = Math.min(page.length - at, Math.max(1, due - v.size));
      const r = v.push(at === 0 && n === page.length ? page : page.slice(at, at + n));
      if (!r.ok) return failed(r);
      at += n;
      pushed += n;
      due = await addDue();
      if (typeof due !== 'number') return failed(due);
    }
    if (pushed - lastProgress >= 2048) {
      lastProgress = pushed;
      opts.onProgress?.(pushed);
    }
  }
  // The entries ended. A checkpoint still due commits to entries that never came: add the next one
  // (it stays pending) so that finish() names the truncation; the rest cannot change that verdict.
  const cp = await cps.peek();
  if (trustedPending && (cp === null || cp.size > tSize!)) {
    const f = takeTrusted();
    if (f) return failed(f);
  } else if (cp !== null) {
    const f = await takeCheckpoint(cp);
    if (f) return failed(f);
  }
  const done = v.finish();
  if (!done.ok) return failed(done);
  if (accepted < cpCount) {
    return failed({ ok: false, reason: 'malformed_checkpoint', detail: `checkpoint index ${accepted} is missing (the latest checkpoint has index ${cpCount - 1})` });
  }
  opts.onProgress?.(done.size);
  const last = prev as StoredCheckpoint | null;
  const latest = tSize !== null && (!last || tSize > last.size) ? { size: tSize, note: opts.trusted! } : last ? { size: last.size, note: last.note } : null;
  return { ok: true, entries: done.size, checkpoints: accepted, consistencyProofs, root: done.root, latestCheckpointSize: latest?.size ?? null, latestCheckpointNote: latest?.note ?? null };
}

async function* fileLines(path: string): AsyncGenerator<string> {
  const input = path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
  }
}

/**
 * Throttled progress on stderr: at most one line per interval (1 s; AINFERA_PROGRESS_MS overrides it
 * for tests), and only once a run has taken longer than that, so short chains print just the verdict.
 */
function progressPrinter(io: CliIo, quiet: boolean): { update(n: number): void; done(): void } {
  const interval = Number(io.env.AINFERA_PROGRESS_MS ?? 1000);
  const started = Date.now();
  let last = started;
  let printed = false;
  return {
    update(n) {
      const now = Date.now();
      if (quiet || now - last < interval) return;
      last = now;
      printed = true;
      const rate = Math.round(n / Math.max(0.001, (now - started) / 1000));
      const line = `verifying: ${n.toLocaleString('en-US')} entries (${rate.toLocaleString('en-US')}/s)`;
      io.stderr.write(io.stderr.isTTY ? `\r${line}` : `${line}\n`);
    },
    done() {
      if (printed && io.stderr.isTTY) io.stderr.write('\n');
    },
  };
}

export function formatVerdict(v: Verdict, seconds: number): string {
  if (v.ok) {
    const cp = v.latestCheckpointSize === null ? 'no checkpoint yet' : `latest checkpoint size ${v.latestCheckpointSize}`;
    const cons = v.consistencyProofs ? `, ${v.consistencyProofs} consistency proofs` : '';
    const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
    return `OK: ${n(v.entries, 'entry', 'entries')} and ${n(v.checkpoints, 'checkpoint', 'checkpoints')} verified (${cp}${cons}; root ${v.root}) in ${seconds.toFixed(1)}s`;
  }
  const where = v.seq !== undefined ? `seq ${v.seq}` : v.checkpointSize !== undefined ? `checkpoint of size ${v.checkpointSize}` : v.line !== undefined ? `line ${v.line}` : 'the start';
  const cp = v.seq !== undefined && v.checkpointSize !== undefined ? ` (checkpoint of size ${v.checkpointSize})` : '';
  return `FAILED at ${where}${cp}: ${v.reason}: ${v.detail} (${v.entries} entries verified before it)`;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { 'data-dir': { type: 'string' }, state: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const started = Date.now();
  const progress = progressPrinter(io, values.quiet ?? false);
  let close: (() => Promise<void>) | undefined;
  try {
    const target = positionals[0];
    if (positionals.length > 1) throw new UsageError(`unexpected argument(s): ${positionals.slice(1).join(' ')}`);
    if ((target === undefined) === (values['data-dir'] === undefined)) throw new UsageError('give either a server URL / export file, or --data-dir');
    const statePath = values.state;
    const trusted = statePath !== undefined && existsSync(statePath) ? readFileSync(statePath, 'utf8') : undefined;
    const common = { onProgress: progress.update, ...(trusted !== undefined ? { trusted } : {}) };
    let verdict: Verdict;
    if (values['data-dir'] !== undefined) {
      const opened = await openLocalSource({ dataDir: values['data-dir'] }, io.env);
      close = opened.close;
      // Same path as a file: the store is exported in memory and verified line by line.
      verdict = await verifyLines(exportLines(opened.source), common);
    } else if (/^https?:\/\//i.test(target!)) {
      verdict = await verifySource(httpSource(target!), { ...common, consistency: (a, b) => fetchConsistency(target!, a, b) });
    } else {
      verdict = await verifyLines(fileLines(target!), common);
    }
    if (verdict.ok && statePath !== undefined && verdict.latestCheckpointNote !== null) {
      // Written whole then renamed: a crash never leaves a half-written state file.
      writeFileSync(`${statePath}.tmp`, verdict.latestCheckpointNote);
      renameSync(`${statePath}.tmp`, statePath);
    }
    progress.done();
    const line = formatVerdict(verdict, (Date.now() - started) / 1000);
    io.stdout.write(`${line}\n`);
    // Not an export at all is a usage problem; anything else wrong is the chain failing verification.
    return verdict.ok ? 0 : verdict.reason === 'malformed_export' && verdict.line === 1 ? 2 : 1;
  } catch (err) {
    progress.done();
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    io.stderr.write(`error: cannot read the chain: ${(err as Error).message}\n`);
    return 2;
  } finally {
    await close?.();
  }
}
