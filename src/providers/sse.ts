// Incremental Server-Sent Events parser (WHATWG HTML §9.2.6 "event stream interpretation").
// Bytes arrive in arbitrary chunks: an event, a line, a CRLF pair or a multi-byte UTF-8 character may be
// split across two chunks, so decoding and line splitting both carry state between pushes.

export interface SseEvent {
  /** `event:` field, 'message' when absent. */
  event: string;
  /** `data:` lines joined with '\n'. */
  data: string;
  id?: string;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buf = '';
  /** A chunk ended in '\r': if the next one starts with '\n' it belongs to the same line break. */
  private pendingCR = false;
  private dataLines: string[] = [];
  private eventName = '';
  private lastId: string | undefined;
  private hasData = false;
  private firstChunk = true;

  /** Feeds bytes; returns every event completed by them. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.firstChunk && text.length > 0) {
      this.firstChunk = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buf += text;
    return this.drainLines();
  }

  /** End of stream: a trailing event without its blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const tail = this.decoder.decode();
    if (tail) this.buf += tail;
    const out = this.drainLines();
    this.buf = '';
    this.resetEvent();
    return out;
  }

  private drainLines(): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buf.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buf.length) {
          if (this.buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
      const ev = this.processLine(line);
      if (ev) out.push(ev);
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  private processLine(line: string): SseEvent | null {
    if (line === '') {
      if (!this.hasData) {
        this.resetEvent();
        return null;
      }
      const ev: SseEvent = { event: this.eventName || 'message', data: this.dataLines.join('\n') };
      if (this.lastId !== undefined) ev.id = this.lastId;
      this.resetEvent();
      return ev;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // retry and unknown fields are ignored.
        break;
    }
    return null;
  }

  private resetEvent(): void {
    this.dataLines = [];
    this.eventName = '';
    this.hasData = false;
  }
}
