import { describe, expect, it } from 'vitest';
import { classify } from '../../src/routing/classify.js';
import type { RouteRequest } from '../../src/routing/types.js';

const user = (content: RouteRequest['messages'][number]['content']): RouteRequest => ({ messages: [{ role: 'user', content: content as string }] });
const tool = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } };
const image = { type: 'image_url' as const, image_url: { url: 'https://example.com/cat.png' } };
const longDoc = 'The quarterly report covers revenue, costs and outlook. '.repeat(150);

describe('classify: task type from the request shape, with the deciding features', () => {
  it.each<[string, RouteRequest, string, string[]]>([
    ['tools offered', { messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [tool] }, 'tool_use', ['tools_offered']],
    [
      'tool results in the conversation',
      {
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: '{"t":21}' },
        ],
      },
      'tool_use',
      ['tool_results', 'assistant_tool_calls'],
    ],
    ['image part', user([{ type: 'text', text: 'what is in this picture?' }, image]), 'vision', ['image_part']],
    [
      'json schema',
      { messages: [{ role: 'user', content: 'Extract the invoice fields' }], responseFormat: { type: 'json_schema', json_schema: { name: 'invoice', schema: {} } } },
      'extraction',
      ['json_schema'],
    ],
    ['json mode', { messages: [{ role: 'user', content: 'Return the names as JSON' }], responseFormat: { type: 'json_object' } }, 'extraction', ['json_mode']],
    ['code fence', user('Why does this fail?\n```\nx = [1,2\n```'), 'code', ['code_fence']],
    ['code keyword', user('Write a Python script that renames files'), 'code', ['keyword:python']],
    ['code syntax', user('def add(a, b):\n    return a - b\nfix it'), 'code', ['code_syntax:def']],
    ['reasoning cue', user('Prove that the square root of 2 is irrational.'), 'reasoning', ['keyword:prove']],
    ['step by step', user('A train leaves at 3pm at 60 km/h... think step by step'), 'reasoning', ['keyword:step by step']],
    ['arithmetic', user('what is 17 * 23 = ?'), 'reasoning', ['keyword:7 * 23 =']],
    ['summarize a long document', user(`${longDoc}\n\nSummarize the above in three bullets.`), 'summarization', ['keyword:summarize', 'long_input']],
    ['tl;dr', user('tl;dr of the meeting notes: we agreed to ship friday'), 'summarization', ['keyword:tl;dr']],
    ['drafting', user('Draft an email to my landlord about the broken heater'), 'drafting', ['drafting:draft an email']],
    ['drafting a story', user('Write a short story about a lighthouse keeper'), 'drafting', ['drafting:write a short story']],
    ['drafting a haiku', user('Write a haiku about routers'), 'drafting', ['drafting:write a haiku']],
    ['chat', user('hello! how was your weekend?'), 'chat', ['default']],
  ])('%s', (_name, req, taskType, features) => {
    const c = classify(req);
    expect(c.taskType).toBe(taskType);
    expect(c.stated).toBe(false);
    for (const f of features) expect(c.features.some((x) => x === f || x.startsWith(f)), `${f} in ${c.features.join(',')}`).toBe(true);
  });

  it('structure wins over text: a coding question with tools is tool use', () => {
    expect(classify({ messages: [{ role: 'user', content: 'run the python tests' }], tools: [tool] }).taskType).toBe('tool_use');
  });

  it('tool_choice none does not make tool use', () => {
    expect(classify({ messages: [{ role: 'user', content: 'hi' }], tools: [tool], toolChoice: 'none' }).taskType).toBe('chat');
  });

  it('records every capability the request requires, whatever the task type', () => {
    const c = classify({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'list objects' }, image] }],
      tools: [tool],
      responseFormat: { type: 'json_schema', json_schema: { name: 'x' } },
    });
    expect(c.taskType).toBe('tool_use');
    expect(c.requires).toEqual(['tools', 'vision', 'json_schema']);
  });

  it('a stated task type wins and is marked stated', () => {
    const c = classify({ messages: [{ role: 'user', content: 'Prove it' }], taskType: 'drafting' });
    expect(c).toMatchObject({ taskType: 'drafting', stated: true });
    expect(c.features[0]).toBe('stated');
  });

  it('does not confuse words: "approve" is not "prove", "javascript" is code', () => {
    expect(classify(user('Please approve the budget for the offsite')).taskType).toBe('chat');
    expect(classify(user('my javascript app crashes on load')).features).toContain('keyword:javascript');
  });

  it('reads only the head and tail of a huge prompt', () => {
    const middle = 'x'.repeat(2_000_000);
    // A cue buried in the middle of 2 MB is not read; cues at the ends are.
    expect(classify(user(`hello ${middle} prove this ${middle} bye`)).taskType).toBe('chat');
    expect(classify(user(`${middle}\nsummarize this`)).taskType).toBe('summarization');
  });

  it('is deterministic', () => {
    const req = user('Write a Python function that proves nothing');
    expect(classify(req)).toEqual(classify(req));
  });
});
