// The instant upstream: an OpenAI-compatible chat completions server on loopback that answers at once
// (no model, no delay), non-streaming and streaming (SSE, with usage when stream_options.include_usage).
// Measuring it directly and through Ainfera in the same run isolates what Ainfera adds.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What every answer says (8 completion tokens, streamed as 4 content deltas). */
export const INSTANT_DELTAS = ['Hello', ' from the', ' instant', ' upstream.'] as const;
const USAGE = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 };

export interface InstantUpstream {
  readonly server: Server;
  readonly port: number;
  /** Base URL as a provider's baseUrl (`/v1`; the adapter appends /chat/completions). */
  readonly baseUrl: string;
  /** Chat completion requests answered so far. */
  served(): number;
  close(): Promise<void>;
}

interface ChatBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

let idCounter = 0;

function answer(body: ChatBody, res: ServerResponse): void {
  const model = typeof body.model === 'string' ? body.model : 'instant';
  const id = `chatcmpl-instant-${(++idCounter).toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  if (body.stream === true) {
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    let text = chunk({ role: 'assistant', content: '' }, null);
    for (const d of INSTANT_DELTAS) text += chunk({ content: d }, null);
    text += chunk({}, 'stop');
    if (body.stream_options?.include_usage === true) {
      text += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: USAGE })}\n\n`;
    }
    text += 'data: [DONE]\n\n';
    // One write: the whole stream leaves at once, so its first byte is as early as it can be.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(text);
    return;
  }
  const json = JSON.stringify({
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: INSTANT_DELTAS.join('') }, finish_reason: 'stop' }],
    usage: USAGE,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

export async function startInstantUpstream(port = 0, host = '127.0.0.1'): Promise<InstantUpstream> {
  let served = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: ChatBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"invalid JSON","type":"invalid_request_error"}}');
        return;
      }
      served++;
      answer(body, res);
    });
  });
  // Keep pooled connections (Ainfera's and the load generator's) open for the whole run.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    baseUrl: `http://${host}:${actual}/v1`,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
