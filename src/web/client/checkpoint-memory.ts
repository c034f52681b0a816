// The browser's memory of the log: the largest checkpoint it has verified, kept in localStorage per log
// origin. Every checkpoint seen later must be provably consistent with it (RFC 9162 consistency proof),
// so a log that was forked (same size, other root; or a proof that fails) or rolled back (the latest
// checkpoint is smaller than one already verified) is caught, even across page reloads.
// Pure logic: storage, proof fetching and proof checking are injected (main wires localStorage, REST and
// the shared verifier), so the rules are unit-tested under node.

export interface SignedCheckpoint {
  /** The log's origin line (first line of the signed note). */
  origin: string;
  size: number;
  /** `0x` + lowercase hex. */
  rootHash: string;
  /** The signed note text, kept so a later consistency proof is checked against the very note verified. */
  note: string;
}

export interface TrustedCheckpoint extends SignedCheckpoint {
  verifiedAt: string;
}

export type CheckOutcome =
  | { status: 'first'; trusted: TrustedCheckpoint }
  | { status: 'same'; trusted: TrustedCheckpoint }
  | { status: 'extended'; from: number; trusted: TrustedCheckpoint }
  | { status: 'older'; trusted: TrustedCheckpoint }
  | { status: 'rollback'; trusted: TrustedCheckpoint; seen: SignedCheckpoint; reason: string }
  | { status: 'fork'; trusted: TrustedCheckpoint; seen: SignedCheckpoint; reason: string }
  | { status: 'unchecked'; trusted: TrustedCheckpoint; seen: SignedCheckpoint; reason: string };

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface MemoryDeps {
  storage: StorageLike;
  /** GET /v1/audit/consistency?from=&to= → proof hashes (`0x` hex). Throws on a network or HTTP error. */
  fetchConsistency(from: number, to: number): Promise<string[]>;
  /** The shared verifier: does `proof` show `older` is a prefix of `newer`? */
  verifyConsistency(older: SignedCheckpoint, newer: SignedCheckpoint, proof: string[]): boolean | Promise<boolean>;
  now?: () => Date;
}

export const STORAGE_PREFIX = 'ainfera.trustedCheckpoint:';

export function isAlarm(o: CheckOutcome): o is Extract<CheckOutcome, { status: 'rollback' | 'fork' }> {
  return o.status === 'rollback' || o.status === 'fork';
}

export class CheckpointMemory {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: MemoryDeps) {}

  trusted(origin: string): TrustedCheckpoint | null {
    let raw: string | null;
    try {
      raw = this.deps.storage.getItem(STORAGE_PREFIX + origin);
    } catch {
      return null;
    }
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as Partial<TrustedCheckpoint>;
      if (v.origin === origin && Number.isSafeInteger(v.size) && typeof v.rootHash === 'string' && /^0x[0-9a-f]{64}$/.test(v.rootHash) && typeof v.note === 'string') {
        return { origin, size: v.size!, rootHash: v.rootHash, note: v.note, verifiedAt: String(v.verifiedAt ?? '') };
      }
    } catch {
      // fall through: a corrupt record is forgotten, not trusted
    }
    return null;
  }

  forget(origin: string): void {
    try {
      this.deps.storage.removeItem(STORAGE_PREFIX + origin);
    } catch {
      // storage may be unavailable (private mode): nothing to forget
    }
  }

  /**
   * Check a checkpoint whose signature the caller has already verified. `latest`: it was served as the
   * log's current head, so being smaller than the trusted one is a rollback. Calls are serialized.
   */
  observe(cp: SignedCheckpoint, opts: { latest: boolean }): Promise<CheckOutcome> {
    const run = this.chain.then(() => this.check(cp, opts.latest));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private save(cp: SignedCheckpoint): TrustedCheckpoint {
    const t: TrustedCheckpoint = { origin: cp.origin, size: cp.size, rootHash: cp.rootHash, note: cp.note, verifiedAt: (this.deps.now?.() ?? new Date()).toISOString() };
    try {
      this.deps.storage.setItem(STORAGE_PREFIX + cp.origin, JSON.stringify(t));
    } catch {
      // storage full or disabled: the check still holds for this page's lifetime via the return value
    }
    return t;
  }

  private async check(cp: SignedCheckpoint, latest: boolean): Promise<CheckOutcome> {
    const trusted = this.trusted(cp.origin);
    if (!trusted) return { status: 'first', trusted: this.save(cp) };
    if (cp.size === trusted.size) {
      if (cp.rootHash === trusted.rootHash) return { status: 'same', trusted };
      return { status: 'fork', trusted, seen: cp, reason: `two signed checkpoints of size ${cp.size} with different roots` };
    }
    const [small, big] = cp.size < trusted.size ? [cp, trusted] : [trusted, cp];
    let proof: string[];
    try {
      proof = small.size === 0 ? [] : await this.deps.fetchConsistency(small.size, big.size);
    } catch (err) {
      const reason = `no consistency proof ${small.size}→${big.size}: ${err instanceof Error ? err.message : String(err)}`;
      if (cp.size < trusted.size && latest) return { status: 'rollback', trusted, seen: cp, reason: `the log's latest checkpoint (size ${cp.size}) is smaller than one verified before (size ${trusted.size}); ${reason}` };
      return { status: 'unchecked', trusted, seen: cp, reason };
    }
    let ok = false;
    try {
      ok = small.size === 0 ? true : await this.deps.verifyConsistency(small, big, proof);
    } catch {
      ok = false;
    }
    if (!ok) return { status: 'fork', trusted, seen: cp, reason: `consistency proof ${small.size}→${big.size} does not match the roots: the log was rewritten` };
    if (cp.size < trusted.size) {
      if (latest) return { status: 'rollback', trusted, seen: cp, reason: `the log's latest checkpoint (size ${cp.size}) is smaller than one verified before (size ${trusted.size})` };
      return { status: 'older', trusted };
    }
    return { status: 'extended', from: trusted.size, trusted: this.save(cp) };
  }
}
