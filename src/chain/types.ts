// The chain's data shapes. The byte format is a public contract (shared/DESIGN.md, docs/chain-format.md):
// third parties verify it without our code, so these types change only with a format version bump.
// Pure module: no Node-only imports (the browser page and the CLI share the verifier).

/** Format version written into every entry's `v`. */
export const ENTRY_FORMAT_VERSION = 1;

/** `prev` of the entry at seq 0. */
export const GENESIS_PREV = `0x${'0'.repeat(64)}`;

/** The event kinds the router writes. Later kinds may be added; verifiers must accept unknown kinds. */
export const ENTRY_KINDS = [
  'request',
  'routed',
  'debited',
  'provider_ok',
  'provider_error',
  'fallback',
  'refunded',
  'completed',
  'rejected',
  'feedback',
] as const;
export type KnownEntryKind = (typeof ENTRY_KINDS)[number];

/** Kind-specific fields are integers and strings only (money in integer micro-USD). */
export type EntryFieldValue = string | number;

/** The signed object. Never prompt or completion text, never secrets (at most a SHA-256 of the request). */
export interface ChainEntry {
  v: number;
  seq: number;
  /** RFC 3339 UTC with milliseconds, e.g. 2026-11-24T13:12:10.123Z */
  time: string;
  kind: string;
  /** Public handle of the agent (never its id or key). */
  agent: string;
  /** Decision id the event belongs to. */
  decision: string;
  model?: string;
  provider?: string;
  /** Hash of the previous entry, `0x` + 64 lowercase hex; GENESIS_PREV for seq 0. */
  prev: string;
  [field: string]: EntryFieldValue | undefined;
}

/** What the public endpoints serve for one entry; canonical bytes are JCS(entry). */
export interface Envelope {
  entry: ChainEntry;
  /** `0x` + hex of SHA-256(0x00 ‖ canonical bytes) */
  hash: string;
  /** base64 Ed25519 signature over `ainfera/entry/v1\n` ‖ 32 hash bytes */
  sig: string;
  keyId: string;
}

/** What a caller hands the appender; seq, time, prev, v are assigned by the sequencer. */
export interface EventInput {
  kind: string;
  agent: string;
  decision: string;
  model?: string;
  provider?: string;
  /** Kind-specific fields: integers and strings only. Reserved names (v, seq, time, kind, agent, decision, model, provider, prev) are rejected. */
  fields?: Record<string, EntryFieldValue>;
}

/** One Ed25519 public key the chain has been signed with, and when. */
export interface PublicKeyInfo {
  keyId: string;
  algorithm: 'ed25519';
  /** base64 of the 32 raw bytes */
  publicKey: string;
  /** C2SP signed-note verifier key string: <name>+<hex key id>+<base64(0x01 ‖ public key)> */
  noteKey: string;
  validFrom: string;
  validUntil: string | null;
}
