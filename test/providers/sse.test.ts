import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/providers/sse.js';

function parseAll(chunks: (string | Uint8Array)[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

const enc = new TextEncoder();

describe('SseParser', () => {
  it('parses events separated by blank lines', () => {
    const evs = parseAll(['data: {"a":1}\n\ndata: [DONE]\n\n']);
    expect(evs.map((e) => e.data)).toEqual(['{"a":1}', '[DONE]']);
    expect(evs[0]!.event).toBe('message');
  });

  it('joins multi-line data with newlines and reads event/id fields', () => {
    const evs = parseAll(['event: delta\nid: 7\ndata: line one\ndata: line two\ndata:no-space\n\n']);
    expect(evs).toEqual([{ event: 'delta', id: '7', data: 'line one\nline two\nno-space' }]);
  });

  it('ignores comments and keep-alive pings, and events without data', () => {
    const evs = parseAll([': OPENROUTER PROCESSING\n\n:ping\n\nevent: x\n\nretry: 100\ndata: ok\n\n']);
    expect(evs.map((e) => e.data)).toEqual(['ok']);
  });

  it('handles an event split at every possible byte boundary', () => {
    const text = 'data: {"choices":[{"delta":{"content":"héllo 世界 🙂"}}]}\r\n\r\ndata: [DONE]\r\n\r\n';
    const bytes = enc.encode(text);
    const whole = parseAll([bytes]);
    expect(whole.map((e) => e.data)).toEqual(['{"choices":[{"delta":{"content":"héllo 世界 🙂"}}]}', '[DONE]']);
    for (let i = 1; i < bytes.length; i++) {
      expect(parseAll([bytes.subarray(0, i), bytes.subarray(i)])).toEqual(whole);
    }
  });

  it('keeps a multi-byte UTF-8 character split across three chunks intact', () => {
    const bytes = enc.encode('data: 🙂\n\n'); // the emoji is 4 bytes
    const evs = parseAll([bytes.subarray(0, 7), bytes.subarray(7, 8), bytes.subarray(8)]);
    expect(evs).toEqual([{ event: 'message', data: '🙂' }]);
  });

  it('treats CR, LF and CRLF (even split between chunks) as line ends', () => {
    expect(parseAll(['data: a\r', '\n\r', '\ndata: b\r\rdata: c\n\n']).map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('strips a leading BOM and discards a trailing event with no blank line', () => {
    expect(parseAll(['\uFEFFdata: x\n\ndata: partial']).map((e) => e.data)).toEqual(['x']);
  });

  it('gives the same events for any chunking (property)', () => {
    const eventArb = fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ' ')), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }), (events, cuts) => {
        const text = events.map((lines) => `${lines.map((l) => `data: ${l}`).join('\n')}\n\n`).join('');
        const bytes = enc.encode(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(prev, p));
          prev = p;
        }
        chunks.push(bytes.subarray(prev));
        const got = parseAll(chunks).map((e) => e.data);
        expect(got).toEqual(events.map((lines) => lines.join('\n')));
      }),
      { numRuns: 300 },
    );
  });
});
