// graphql-ws on a `ws` server, adapted from graphql-ws/use/ws (which invites copying it): the one change
// that matters is `send`. The stock version waits for every message's write callback, so a subscription
// advances at most one event per event-loop turn (~4k events/s here). Here a send returns at once while the
// socket's buffered bytes stay under a high-water mark and waits for the write only beyond it: fast
// readers get full speed, and a reader that stops reading still backs up into the subscription's bounded
// queue (src/api/feed.ts), which then cuts it off. Errors go to the logger, never the console.
import type { IncomingMessage } from 'node:http';
import { CloseCode, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import { logger } from '../log.js';

export interface WsExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

export interface WsServerHandle {
  /** Closes every client with 1001 (going away) and the ws server. */
  dispose(): Promise<void>;
}

export interface AttachOptions {
  /** Bytes buffered on a socket before sends wait for their write callback. Default 1 MiB. */
  highWaterBytes?: number;
  /** Ping interval (ms); a client that misses a pong for as long is terminated. Default 12 s. */
  keepAliveMs?: number;
}

const GRAPHQL_TRANSPORT_WS = 'graphql-transport-ws';

export function attachGraphQLWs<P extends Record<string, unknown>, E extends Record<PropertyKey, unknown>>(
  options: ServerOptions<P, WsExtra & Partial<E>>,
  wss: WebSocketServer,
  attach: AttachOptions = {},
): WsServerHandle {
  const highWater = attach.highWaterBytes ?? 1 << 20;
  const keepAlive = attach.keepAliveMs ?? 12_000;
  const server = makeServer(options);
  wss.options.handleProtocols = (protocols: Set<string>) => (protocols.has(GRAPHQL_TRANSPORT_WS) ? GRAPHQL_TRANSPORT_WS : false);

  wss.on('error', (err) => logger.error({ err }, 'websocket server error'));
  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.once('error', (err) => {
      // e.g. a frame over maxPayload: ws closes the socket itself (1009); just record why.
      logger.info({ reason: err.message }, 'websocket closed on error');
      if (socket.readyState === socket.OPEN) socket.close(CloseCode.InternalServerError, 'Internal server error');
    });

    let pongWait: NodeJS.Timeout | null = null;
    const ping =
      keepAlive > 0
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAlive);
            socket.once('pong', () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAlive)
        : null;

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data: string) => {
          if (socket.readyState !== socket.OPEN) return undefined;
          if (socket.bufferedAmount < highWater) {
            socket.send(data, (err) => {
              if (err) logger.debug({ reason: err.message }, 'websocket send failed');
            });
            return undefined;
          }
          // Backpressure: the reader is behind; wait until this message is written.
          return new Promise<void>((resolve) => socket.send(data, () => resolve()));
        },
        close: (code: number, reason: string) => socket.close(code, reason),
        onMessage: (cb: (data: string) => Promise<void>) =>
          socket.on('message', async (event) => {
            try {
              await cb(String(event));
            } catch (err) {
              logger.warn({ reason: (err as Error).message }, 'websocket message rejected');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request } as WsExtra & Partial<E>,
    );

    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      if (ping) clearInterval(ping);
      void closed(code, String(reason));
    });
  });

  return {
    async dispose() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
