// The page's only network code: the public REST audit endpoints (the contract third parties verify
// against) and GraphQL over HTTP. Same origin only; the agent key goes in one header, never in a URL.
import type { Envelope, PublicKeyInfo } from '../../chain/types.js';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function failure(res: Response, what: string): Promise<HttpError> {
  let detail = '';
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    detail = body.error?.message ?? '';
  } catch {
    // not JSON: the status says enough
  }
  return new HttpError(res.status, `${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal });
  if (!res.ok) throw await failure(res, `GET ${path}`);
  return (await res.json()) as T;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const res = await fetch(path, { signal });
  if (!res.ok) throw await failure(res, `GET ${path}`);
  return res.text();
}

/** GET /v1/audit/public/SEQ: the envelope, its inclusion proof and the signed note the proof is against. */
export interface EntryWithProof extends Envelope {
  proof: { leafIndex: number; treeSize: number; hashes: string[] } | null;
  checkpoint: string | null;
  checkpointIndex?: number;
}

export const audit = {
  entry: (seq: number, signal?: AbortSignal) => getJson<EntryWithProof>(`/v1/audit/public/${seq}`, signal),
  latestCheckpoint: (signal?: AbortSignal) => getText('/v1/audit/checkpoint', signal),
  consistency: async (from: number, to: number) => (await getJson<{ from: number; to: number; hashes: string[] }>(`/v1/audit/consistency?from=${from}&to=${to}`)).hashes,
  keys: async () => (await getJson<{ keys: PublicKeyInfo[] }>('/v1/audit/keys')).keys,
};

export class GraphQLRequestError extends Error {
  override readonly name = 'GraphQLRequestError';
  constructor(
    message: string,
    readonly codes: string[],
    readonly status: number,
  ) {
    super(message);
  }
}

/** POST /graphql. `token`: an agent key for the Authorization header (private queries only). */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  let body: { data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new GraphQLRequestError(`GraphQL: HTTP ${res.status}`, [], res.status);
  }
  if (body.errors?.length) {
    throw new GraphQLRequestError(
      body.errors.map((e) => e.message).join('; '),
      body.errors.map((e) => e.extensions?.code ?? ''),
      res.status,
    );
  }
  if (!res.ok || body.data == null) throw new GraphQLRequestError(`GraphQL: HTTP ${res.status}`, [], res.status);
  return body.data;
}
