// Pothos builder setup only (types live in schema/<domain>.ts). Fields are non-null and input fields
// required unless a field says otherwise, so the schema states what is really guaranteed.
import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import type { ApiContext } from './context.js';

export type Scalars = {
  /** Integers beyond GraphQL's 32-bit Int: micro-USD amounts, seqs, tree sizes. */
  SafeInt: { Input: number; Output: number };
  /** RFC 3339 UTC timestamp. */
  DateTime: { Input: string; Output: string | Date | number };
  /** Arbitrary JSON (chain entries, policies, tool parameter schemas). */
  JSON: { Input: unknown; Output: unknown };
};

export const builder = new SchemaBuilder<{
  Context: ApiContext;
  Scalars: Scalars;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  plugins: [RelayPlugin],
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Decisions are addressed by their own ids; no global Node refetching.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
  },
});

const AUTH =
  'Auth: an agent sends `Authorization: Bearer <agent key>` (over WebSocket: connectionParams.authorization); ' +
  'the operator sends the admin token as `Authorization: Bearer <token>` or an `x-admin-token` header (over WebSocket: ' +
  'connectionParams.adminToken). No credentials: public data only (catalog, chain). A wrong credential is refused (401; WebSocket 4403).';

builder.queryType({ description: `Reads: the catalog with live signals, decisions, analytics, the chain. ${AUTH}` });
builder.mutationType({ description: `Routing calls (agent key), caller feedback (agent key), admin operations (admin token). ${AUTH}` });
builder.subscriptionType({ description: 'Live streams (public).' });
