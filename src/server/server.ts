// One node:http server on one port: GraphQL over HTTP (Yoga) and over WebSocket (graphql-ws) at
// /graphql, the public REST audit routes, the OpenAI-compatible endpoint, the trace page, and the operator
// routes (/health, /ready, /metrics: health.ts, metrics.ts). Those answer during the shutdown drain delay
// (health.drainDelayMs, waited out by the caller before close()), when /ready says 503 and everything is
// still served. close() then closes the listener: new connections are refused, and only a request on a
// connection still open is answered (operator routes as usual, any other 503) until the sockets close.
//
// Safety: request bodies are read here with a hard byte limit before Yoga sees them; depth, cost,
// alias and token limits come from graphql-armor and report as validation errors (never thrown, so a
// rejected subscription cannot take its WebSocket down); unexpected errors are masked; the client going
// away aborts execution and the provider call.
//
// Graceful shutdown: stop accepting (listener and upgrades closed, new requests on kept-alive sockets
// get 503), wait for in-flight requests, run the caller's drain (finish routed calls, flush the chain),
// end every subscription, and close WebSockets with 1001 (going away).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ExecutionArgs, type ValidationContext } from 'graphql';
import { createYoga, useExecutionCancellation, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerToken } from '../accounts/keys.js';
import { createContext, resolveCaller, type ApiContext, type Caller, type Credentials } from '../api/context.js';
import type { ApiDeps } from '../api/ports.js';
import { getSchema } from '../api/schema/index.js';
import { logger } from '../log.js';
import { HEALTH_PATH } from './health.js';
import { attachGraphQLWs } from './ws.js';

export const GRAPHQL_PATH = '/graphql';
export { HEALTH_PATH };

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
/** Answers its own paths (returns false at once for the others, without awaiting anything). */
export type OpsHandler = (req: IncomingMessage, res: ServerResponse, path: string) => false | Promise<true>;

export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  deps: ApiDeps;
  limits: {
    maxBodyBytes: number;
    maxDepth: number;
    maxCost: number;
    maxAliases?: number;
    maxTokens?: number;
    /** Operations (subscriptions included) running at once on one WebSocket. Default 64. */
    maxOperationsPerSocket?: number;
    /** Open WebSocket connections. Default 2,000. */
    maxWebSockets?: number;
  };
  /** Serve GraphiQL at GET /graphql (development only). */
  graphiql: boolean;
  /** Masked errors hide unexpected error messages (on in production). Default true. */
  maskedErrors?: boolean;
  /** REST audit routes (src/server/audit-routes.ts). */
  audit?: NodeHandler;
  /** OpenAI-compatible routes (src/server/openai-routes.ts). */
  openai?: NodeHandler;
  /** The trace page (src/web). */
  web?: NodeHandler;
  /**
   * Operator routes (/health, /ready, /metrics), tried first and served even while shutting down, so a load
   * balancer sees readiness turn 503. Without it, GET /health answers a bare `{ status: 'ok' }`.
   */
  ops?: OpsHandler;
  /** Longest wait for in-flight requests on shutdown before their sockets are closed. Default 30 s. */
  shutdownGraceMs?: number;
}

export interface CloseOptions {
  /** Runs after in-flight HTTP requests finished, before subscribers are closed (finish calls, flush the chain). */
  drain?: () => Promise<void>;
}

export interface RunningServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly http: Server;
  readonly wss: WebSocketServer;
  /** Open WebSocket connections. */
  readonly wsClients: () => number;
  /** HTTP requests being served (streams included). */
  readonly inFlight: () => number;
  close(opts?: CloseOptions): Promise<void>;
}

/** What graphql-ws keeps per connection, besides its own fields. */
type WsExtra = {
  caller?: Caller;
};

type ServerContext = { req: IncomingMessage; res: ServerResponse } | { wsCaller: Caller };

/** Response types Yoga streams (GraphQL over SSE, incremental delivery); every other answer is whole. */
const STREAMED = /^(text\/event-stream|multipart\/)/i;

const REPORT_TO_VALIDATION = [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(err)];

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

class BodyTooLarge extends Error {}

/**
 * Reads the whole body, refusing (before reading on) anything over `limit` bytes. Plain 'data'/'end'
 * listeners rather than `for await (… of req)`: the async iterator sets up end-of-stream bookkeeping that
 * cost ~85 µs a request at saturation (profiled with scripts/bench/overhead.ts).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge());
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) done(new BodyTooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => done(null);
    const onError = (err: Error): void => done(err);
    // The client went away before the body was complete (no 'end' will come).
    const onClose = (): void => done(new Error('request body aborted'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** A body already read, as the async iterable of its one chunk that Yoga's Node adapter takes from `req.body`. */
class PreReadBody {
  constructor(readonly bytes: Buffer) {}
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    yield this.bytes;
  }
}

/** Credentials from connectionParams: `authorization` ("Bearer …" or a bare token) and/or `adminToken`. */
function wsCredentials(params: Readonly<Record<string, unknown>> | undefined): Credentials {
  const auth = params?.authorization ?? params?.Authorization;
  let bearer: string | null = null;
  if (typeof auth === 'string' && auth !== '') bearer = bearerToken(auth) ?? (/^\S+$/.test(auth) ? auth : null);
  const admin = params?.adminToken ?? params?.['x-admin-token'];
  return { bearer, adminToken: typeof admin === 'string' && admin !== '' ? admin : null };
}

function toGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  return new GraphQLError(err instanceof Error ? err.message : String(err));
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { deps, limits } = opts;
  const schema = getSchema();
  let shuttingDown = false;

  const armor = EnvelopArmorPlugin({
    maxDepth: { n: limits.maxDepth, propagateOnRejection: false, onReject: REPORT_TO_VALIDATION },
    costLimit: { maxCost: limits.maxCost, propagateOnRejection: false, onReject: REPORT_TO_VALIDATION },
    maxAliases: { n: limits.maxAliases ?? 30, propagateOnRejection: false, onReject: REPORT_TO_VALIDATION },
    maxDirectives: { n: 50, propagateOnRejection: false, onReject: REPORT_TO_VALIDATION },
    // Token counting happens in parse (no validation context): it throws, which both transports catch.
    maxTokens: { n: limits.maxTokens ?? 5000 },
    blockFieldSuggestion: { enabled: opts.maskedErrors !== false },
  });

  let renderGraphiQL: ((o?: unknown) => string) | undefined;
  if (opts.graphiql) {
    // 9 MB of bundled GraphiQL (no CDN: the browser may have no internet); loaded only when enabled.
    ({ renderGraphiQL } = (await import('@graphql-yoga/render-graphiql')) as { renderGraphiQL: (o?: unknown) => string });
  }

  const yoga: YogaServerInstance<ServerContext, ApiContext> = createYoga<ServerContext, ApiContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    maskedErrors: opts.maskedErrors ?? true,
    graphiql: opts.graphiql ? { title: 'Ainfera GraphQL', subscriptionsProtocol: 'WS' } : false,
    ...(renderGraphiQL ? { renderGraphiQL } : {}),
    landingPage: false,
    batching: false,
    // The body is read (and limited to limits.maxBodyBytes, 413) before Yoga sees it; Yoga's own limit
    // would pipe every body through a TransformStream again.
    maxRequestBodySize: false,
    healthCheckEndpoint: false as unknown as string,
    logging: {
      // Yoga's debug lines can quote whole operations (and a prompt inlined in one): never logged.
      debug: () => undefined,
      info: (...a: unknown[]) => logger.info({ yoga: a.map(String) }, 'yoga'),
      warn: (...a: unknown[]) => logger.warn({ yoga: a.map(String) }, 'yoga'),
      error: (...a: unknown[]) => logger.error({ err: a.find((x) => x instanceof Error), yoga: a.filter((x) => !(x instanceof Error)).map(String) }, 'graphql error'),
    },
    plugins: [useExecutionCancellation(), armor as Plugin],
    context: async (initial): Promise<ApiContext> => {
      if ('wsCaller' in initial) return createContext(deps, initial.wsCaller as Caller);
      const request = (initial as unknown as { request: Request }).request;
      const creds: Credentials = {
        bearer: bearerToken(request.headers.get('authorization') ?? undefined),
        adminToken: request.headers.get('x-admin-token') || null,
      };
      if (request.headers.get('authorization') && creds.bearer === null) {
        throw new GraphQLError('malformed Authorization header: expected "Bearer <token>"', {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      return createContext(deps, await resolveCaller(deps, creds), request.signal);
    },
  });

  /**
   * Hands one HTTP request to Yoga with the body already read under the limit, through Yoga's Node path
   * (handleNodeRequestAndResponse): its Request reads the IncomingMessage's headers object lazily (no
   * copy) and its signal aborts when the response closes before it finished (the client went away), which
   * reaches the gateway through the context (useExecutionCancellation stops execution too).
   * The body we read is handed over as `req.body`, as a one-chunk async iterable (PreReadBody): the adapter
   * takes a pre-read body only when `Object.keys(body)` is non-empty, which for a string or a Buffer lists
   * every character (~17 µs for a 440-byte call, growing with the prompt); this object has one key.
   */
  async function serveGraphQL(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      let body: Buffer;
      try {
        body = await readBody(req, limits.maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          sendJson(res, 413, { errors: [{ message: `request body is larger than ${limits.maxBodyBytes} bytes`, extensions: { code: 'BODY_TOO_LARGE' } }] }, { connection: 'close' });
          req.resume();
          return;
        }
        throw err;
      }
      (req as IncomingMessage & { body?: PreReadBody }).body = new PreReadBody(body);
    }
    const response = await yoga.handleNodeRequestAndResponse(req, res, { req, res });
    // The client went away while the operation ran: nothing to write to.
    if (res.destroyed) return;
    const outHeaders: Record<string, string | string[]> = {};
    response.headers.forEach((value, key) => {
      const prev = outHeaders[key];
      outHeaders[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    });
    res.writeHead(response.status, outHeaders);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (!STREAMED.test(response.headers.get('content-type') ?? '')) {
      // A whole answer (JSON, GraphiQL's page, an empty 4xx): one write. Its text is the string Yoga
      // built; asking for `response.body` instead would wrap it in a stream first.
      res.end(await response.text());
      return;
    }
    if (response.body === null) {
      res.end();
      return;
    }
    // Incremental delivery and subscriptions over SSE: pumped as they come, with backpressure.
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await new Promise<void>((r) => res.once('drain', r).once('close', r));
        if (res.destroyed) break;
      }
    } finally {
      if (res.destroyed) await reader.cancel().catch(() => undefined);
      res.end();
    }
  }

  const handlers: NodeHandler[] = [opts.audit, opts.openai, opts.web].filter((h): h is NodeHandler => h !== undefined);
  let inFlight = 0;
  const idleWaiters: (() => void)[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const ops = opts.ops?.(req, res, path);
    if (ops) {
      await ops;
      return;
    }
    if (shuttingDown) {
      sendJson(res, 503, { error: { code: 'SHUTTING_DOWN', message: 'the server is shutting down' } }, { connection: 'close' });
      return;
    }
    if (path === HEALTH_PATH) {
      sendJson(res, 200, { status: 'ok', subscribers: deps.feed.size }, { 'cache-control': 'no-store' });
      return;
    }
    if (path === GRAPHQL_PATH) {
      await serveGraphQL(req, res);
      return;
    }
    for (const h of handlers) {
      if (await h(req, res)) return;
    }
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method ?? 'GET'} ${path}` } });
  }

  const http = createServer((req, res) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) for (const w of idleWaiters.splice(0)) w();
    });
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: (req.url ?? '').split('?', 1)[0] }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal server error' } });
      else res.destroy();
    });
  });
  // Slow-loris bounds; long routed calls and streams are legitimate, so only headers are timed tightly.
  http.headersTimeout = 20_000;
  http.requestTimeout = 0;
  http.keepAliveTimeout = 5_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes });
  const maxOperationsPerSocket = limits.maxOperationsPerSocket ?? 64;
  const maxWebSockets = limits.maxWebSockets ?? 2_000;
  const sockets = new Set<Socket>();
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (shuttingDown || path !== GRAPHQL_PATH) {
      socket.end(`HTTP/1.1 ${shuttingDown ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    // Anonymous sockets are allowed (the chain is public), so their number must be bounded.
    if (wss.clients.size >= maxWebSockets) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const wsServer = attachGraphQLWs<Record<string, unknown>, WsExtra>(
    {
      schema,
      // A bad credential closes the connection (4403); no credential: anonymous (public data only).
      onConnect: async (ctx) => {
        try {
          (ctx.extra as WsExtra).caller = await resolveCaller(deps, wsCredentials(ctx.connectionParams));
          return true;
        } catch (err) {
          logger.info({ reason: (err as Error).message }, 'websocket connection refused');
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws lists this socket's running operations (this one included) and drops each when it
        // ends: without a bound, one anonymous socket could open subscriptions until memory runs out.
        if (Object.keys(ctx.subscriptions).length > maxOperationsPerSocket) {
          return [
            new GraphQLError(`at most ${maxOperationsPerSocket} operations may run at once on one connection`, {
              extensions: { code: 'TOO_MANY_OPERATIONS' },
            }),
          ];
        }
        const caller = (ctx.extra as WsExtra).caller ?? { agent: null, adminToken: null };
        const env = yoga.getEnveloped({ wsCaller: caller, params: payload } as unknown as ServerContext);
        // Parse and validate never throw out of here: an error array answers this operation only,
        // where a throw would close the whole socket (graphql-ws 4500).
        let document;
        try {
          document = env.parse(payload.query);
        } catch (err) {
          return [toGraphQLError(err)];
        }
        let errors: readonly GraphQLError[];
        try {
          errors = env.validate(env.schema, document);
        } catch (err) {
          return [toGraphQLError(err)];
        }
        if (errors.length > 0) return [...errors];
        let contextValue: ApiContext;
        try {
          contextValue = (await env.contextFactory()) as unknown as ApiContext;
        } catch (err) {
          return [toGraphQLError(err)];
        }
        const args: ExecutionArgs & { rootValue: { execute: typeof env.execute; subscribe: typeof env.subscribe } } = {
          schema: env.schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue,
          rootValue: { execute: env.execute, subscribe: env.subscribe },
        };
        return args;
      },
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
    },
    wss,
  );

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;
  const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${hostForUrl}:${addr.port}`;

  let closing: Promise<void> | null = null;
  async function close(closeOpts: CloseOptions = {}): Promise<void> {
    closing ??= (async () => {
      shuttingDown = true;
      const listenerClosed = new Promise<void>((r) => http.close(() => r()));
      http.closeIdleConnections();
      // In-flight requests (routed calls, streams) get to finish.
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((r) => idleWaiters.push(r)),
          new Promise<void>((r) => setTimeout(r, opts.shutdownGraceMs ?? 30_000).unref()),
        ]);
      }
      try {
        await closeOpts.drain?.();
      } catch (err) {
        logger.error({ err }, 'shutdown drain failed');
      }
      // Subscribers get what became durable during shutdown, their streams complete, then every socket
      // closes with 1001 (going away).
      await deps.feed.settle().catch((err: unknown) => logger.warn({ err }, 'feed settle failed'));
      deps.feed.close();
      await deps.feed.idle();
      await wsServer.dispose().catch((err: unknown) => logger.warn({ err }, 'websocket server close failed'));
      http.closeAllConnections();
      for (const s of sockets) s.destroy();
      await listenerClosed;
    })();
    return closing;
  }

  return {
    url,
    host: addr.address,
    port: addr.port,
    http,
    wss,
    wsClients: () => wss.clients.size,
    inFlight: () => inFlight,
    close,
  };
}

export type { WebSocket };
