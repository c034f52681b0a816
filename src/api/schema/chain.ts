// The public chain: entries as signed envelopes, checkpoints, proofs, keys, and the live chainEvents feed.
// Everything here is keyless and public (DESIGN.md "Public endpoints"): only what the chain itself holds.
import { GraphQLError } from 'graphql';
import type { ChainEntry } from '../../chain/types.js';
import type { StoredCheckpoint, StoredEntry } from '../../store/port.js';
import { builder } from '../builder.js';
import type { ApiContext } from '../context.js';
import type { FeedEvent } from '../feed.js';
import { createLoaders } from '../loaders.js';

export const MAX_CHAIN_PAGE = 1000;

const parsed = new WeakMap<StoredEntry, ChainEntry>();
/** The signed object, parsed from the stored canonical bytes (never re-serialized for verification). */
export function entryObject(e: StoredEntry): ChainEntry {
  let obj = parsed.get(e);
  if (!obj) {
    obj = JSON.parse(e.canonical) as ChainEntry;
    parsed.set(e, obj);
  }
  return obj;
}

function badInput(message: string, field: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field } });
}

function nonNegative(n: number, field: string): void {
  if (n < 0) throw badInput(`${field} must be >= 0`, field);
}

export const CheckpointRef = builder.objectRef<StoredCheckpoint>('Checkpoint').implement({
  description: 'A signed checkpoint (C2SP signed note): tree size and root hash. Its index is the block height.',
  fields: (t) => ({
    height: t.field({ type: 'SafeInt', description: '0-based, gap-free checkpoint index.', resolve: (c) => c.index }),
    size: t.field({ type: 'SafeInt', description: 'Tree size: entries covered (seqs 0..size-1).', resolve: (c) => c.size }),
    rootHash: t.string({ description: '0x-prefixed hex root hash.', resolve: (c) => c.rootHash }),
    time: t.field({ type: 'DateTime', resolve: (c) => c.time }),
    note: t.string({ description: 'The signed-note text, exactly as served by GET /v1/audit/checkpoint.', resolve: (c) => c.note }),
  }),
});

interface InclusionShape {
  leafIndex: number;
  treeSize: number;
  hashes: string[];
  checkpoint: StoredCheckpoint;
}

const InclusionProofRef = builder.objectRef<InclusionShape>('InclusionProof').implement({
  description: 'RFC 9162 inclusion proof of one entry in a signed checkpoint.',
  fields: (t) => ({
    leafIndex: t.field({ type: 'SafeInt', resolve: (p) => p.leafIndex }),
    treeSize: t.field({ type: 'SafeInt', resolve: (p) => p.treeSize }),
    hashes: t.stringList({ resolve: (p) => p.hashes }),
    checkpoint: t.field({ type: CheckpointRef, resolve: (p) => p.checkpoint }),
  }),
});

interface ConsistencyShape {
  from: number;
  to: number;
  hashes: string[];
}

const ConsistencyProofRef = builder.objectRef<ConsistencyShape>('ConsistencyProof').implement({
  description: 'RFC 9162 consistency proof between two tree sizes.',
  fields: (t) => ({
    from: t.field({ type: 'SafeInt', resolve: (p) => p.from }),
    to: t.field({ type: 'SafeInt', resolve: (p) => p.to }),
    hashes: t.stringList({ resolve: (p) => p.hashes }),
  }),
});

/** Fields every form of a chain entry carries: the envelope of DESIGN.md plus indexed copies. */
const ChainEnvelopeRef = builder.interfaceRef<StoredEntry>('ChainEnvelope').implement({
  description: 'One signed chain entry: `entry` is the signed object (canonical bytes = RFC 8785 of it), with hash, sig and keyId.',
  fields: (t) => ({
    seq: t.field({ type: 'SafeInt', resolve: (e) => e.seq }),
    entry: t.field({ type: 'JSON', description: 'The signed object.', resolve: (e) => entryObject(e) }),
    canonical: t.string({ description: 'The exact canonical bytes (UTF-8) that were hashed and signed.', resolve: (e) => e.canonical }),
    hash: t.string({ resolve: (e) => e.hash }),
    sig: t.string({ resolve: (e) => e.sig }),
    keyId: t.string({ resolve: (e) => e.keyId }),
    kind: t.string({ resolve: (e) => e.kind }),
    agent: t.string({ description: 'Public handle of the agent.', resolve: (e) => e.agent }),
    decision: t.string({ description: 'Decision id.', resolve: (e) => e.decision }),
    time: t.field({ type: 'DateTime', resolve: (e) => e.time }),
    model: t.string({ nullable: true, resolve: (e) => entryObject(e).model ?? null }),
    provider: t.string({ nullable: true, resolve: (e) => entryObject(e).provider ?? null }),
  }),
});

export const ChainEntryRef = builder.objectRef<StoredEntry>('ChainEntry').implement({
  interfaces: [ChainEnvelopeRef],
  isTypeOf: () => true,
  fields: (t) => ({
    inclusionProof: t.field({
      type: InclusionProofRef,
      nullable: true,
      description: 'Proof against the checkpoint of `treeSize` (default: the latest). Null when that checkpoint does not cover this entry yet.',
      args: { treeSize: t.arg({ type: 'SafeInt', required: false }) },
      resolve: async (e, args, ctx) => {
        const store = ctx.deps.store.chain;
        const cp = args.treeSize == null ? await store.latestCheckpoint() : await store.checkpointBySize(args.treeSize);
        if (!cp) {
          if (args.treeSize != null) throw badInput(`no checkpoint of size ${args.treeSize}`, 'treeSize');
          return null;
        }
        if (e.seq >= cp.size) return null;
        const hashes = await ctx.deps.chain.inclusionProof(e.seq, cp.size);
        return { leafIndex: e.seq, treeSize: cp.size, hashes, checkpoint: cp };
      },
    }),
  }),
});

const ChainEventRef = builder.objectRef<FeedEvent>('ChainEvent').implement({
  description: 'One entry of the live feed, with the latest checkpoint known at delivery (it may not cover the entry yet).',
  fields: (t) => ({
    seq: t.field({ type: 'SafeInt', resolve: (ev) => ev.entry.seq }),
    envelope: t.field({ type: ChainEntryRef, resolve: (ev) => ev.entry }),
    entry: t.field({ type: 'JSON', description: 'The signed object.', resolve: (ev) => entryObject(ev.entry) }),
    hash: t.string({ resolve: (ev) => ev.entry.hash }),
    sig: t.string({ resolve: (ev) => ev.entry.sig }),
    keyId: t.string({ resolve: (ev) => ev.entry.keyId }),
    checkpointHeight: t.field({ type: 'SafeInt', nullable: true, resolve: (ev) => ev.checkpoint?.index ?? null }),
    checkpointSize: t.field({ type: 'SafeInt', nullable: true, resolve: (ev) => ev.checkpoint?.size ?? null }),
  }),
});

interface HeadShape {
  size: number;
  headSeq: number | null;
  headHash: string | null;
}

const ChainHeadRef = builder.objectRef<HeadShape>('ChainHead').implement({
  fields: (t) => ({
    size: t.field({ type: 'SafeInt', description: 'Entries in the chain.', resolve: (h) => h.size }),
    headSeq: t.field({ type: 'SafeInt', nullable: true, resolve: (h) => h.headSeq }),
    headHash: t.string({ nullable: true, resolve: (h) => h.headHash }),
    checkpoint: t.field({
      type: CheckpointRef,
      nullable: true,
      description: 'The latest signed checkpoint.',
      resolve: (_h, _a, ctx) => ctx.deps.store.chain.latestCheckpoint(),
    }),
  }),
});

interface PageShape {
  entries: StoredEntry[];
  next: number | null;
}

const ChainEntryPageRef = builder.objectRef<PageShape>('ChainEntryPage').implement({
  fields: (t) => ({
    entries: t.field({ type: [ChainEntryRef], resolve: (p) => p.entries }),
    next: t.field({ type: 'SafeInt', nullable: true, description: 'fromSeq of the next page; null at the head.', resolve: (p) => p.next }),
  }),
});

const PublicKeyRef = builder
  .objectRef<{ keyId: string; algorithm: string; publicKey: string; noteKey: string; validFrom: string; validUntil: string | null }>('PublicKey')
  .implement({
    fields: (t) => ({
      keyId: t.exposeString('keyId'),
      algorithm: t.exposeString('algorithm'),
      publicKey: t.string({ description: 'base64 of the 32 raw Ed25519 bytes.', resolve: (k) => k.publicKey }),
      noteKey: t.string({ description: 'C2SP signed-note verifier key.', resolve: (k) => k.noteKey }),
      validFrom: t.field({ type: 'DateTime', resolve: (k) => k.validFrom }),
      validUntil: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.validUntil }),
    }),
  });

builder.queryFields((t) => ({
  chainHead: t.field({
    type: ChainHeadRef,
    resolve: async (_r, _a, ctx) => {
      const head = await ctx.deps.store.chain.head();
      return { size: head ? head.seq + 1 : 0, headSeq: head?.seq ?? null, headHash: head?.hash ?? null };
    },
  }),
  chainEntry: t.field({
    type: ChainEntryRef,
    nullable: true,
    args: { seq: t.arg({ type: 'SafeInt' }) },
    resolve: (_r, { seq }, ctx) => {
      nonNegative(seq, 'seq');
      return ctx.loaders.entry.load(seq);
    },
  }),
  chainEntries: t.field({
    type: ChainEntryPageRef,
    args: {
      fromSeq: t.arg({ type: 'SafeInt', required: false, defaultValue: 0 }),
      first: t.arg.int({ required: false, defaultValue: 100, description: `At most ${MAX_CHAIN_PAGE}.` }),
    },
    resolve: async (_r, args, ctx) => {
      const from = args.fromSeq ?? 0;
      const first = args.first ?? 100;
      nonNegative(from, 'fromSeq');
      if (first < 1 || first > MAX_CHAIN_PAGE) throw badInput(`first must be 1..${MAX_CHAIN_PAGE}`, 'first');
      const entries = await ctx.deps.store.chain.entries(from, first);
      for (const e of entries) ctx.loaders.entry.prime(e.seq, e);
      const next = entries.length === first ? from + first : null;
      return { entries, next };
    },
  }),
  checkpoint: t.field({
    type: CheckpointRef,
    nullable: true,
    description: 'The signed checkpoint of tree size `size` (default: the latest).',
    args: { size: t.arg({ type: 'SafeInt', required: false }) },
    resolve: (_r, { size }, ctx) => {
      if (size == null) return ctx.deps.store.chain.latestCheckpoint();
      nonNegative(size, 'size');
      return ctx.deps.store.chain.checkpointBySize(size);
    },
  }),
  consistencyProof: t.field({
    type: ConsistencyProofRef,
    args: { from: t.arg({ type: 'SafeInt' }), to: t.arg({ type: 'SafeInt' }) },
    resolve: async (_r, { from, to }, ctx) => {
      nonNegative(from, 'from');
      if (to < from) throw badInput('to must be >= from', 'to');
      const latest = await ctx.deps.store.chain.latestCheckpoint();
      if (!latest || to > latest.size) throw badInput(`to must be <= the latest checkpoint size (${latest?.size ?? 0})`, 'to');
      return { from, to, hashes: await ctx.deps.chain.consistencyProof(from, to) };
    },
  }),
  chainKeys: t.field({
    type: [PublicKeyRef],
    description: 'Every key the chain has been signed with, and when.',
    resolve: (_r, _a, ctx) => ctx.deps.chain.keys(),
  }),
}));

builder.subscriptionField('chainEvents', (t) =>
  t.field({
    type: ChainEventRef,
    description:
      'Replays from fromSeq (default: the current head), then streams live, in order, with no gap and no duplicate. ' +
      'Filters skip entries but never reorder. A subscriber that falls too far behind gets an error naming the seq to resume from.',
    args: {
      fromSeq: t.arg({ type: 'SafeInt', required: false }),
      agent: t.arg.string({ required: false, description: 'Only entries of this agent handle.' }),
      kinds: t.arg.stringList({ required: false, description: 'Only entries of these kinds.' }),
    },
    subscribe: (_r, args, ctx: ApiContext) => {
      if (args.fromSeq != null) nonNegative(args.fromSeq, 'fromSeq');
      return ctx.deps.feed.subscribe({
        fromSeq: args.fromSeq ?? undefined,
        agent: args.agent ?? undefined,
        kinds: args.kinds ?? undefined,
      });
    },
    resolve: (ev: FeedEvent, _a, ctx: ApiContext) => {
      // One loader set per event: nothing cached across events.
      ctx.loaders = createLoaders(ctx.deps.store);
      return ev;
    },
  }),
);
