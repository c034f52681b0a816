// Task type from the request's shape: deterministic, explainable (the features that decided), and cheap.
// Structure wins over text: tools > images > JSON output > text cues (code > reasoning > summarization
// > drafting) > chat. Text cues read only the ask (the last user message: its head and tail) and the
// head of the system prompt, so a 1 MB prompt costs the same as a short one.
import type { Capability } from '../catalog/types.js';
import type { Classification, ContentPart, RouteRequest, TaskType } from './types.js';

/** Characters of the last user message read from its start, and from its end. */
const HEAD_CHARS = 1_000;
const TAIL_CHARS = 400;
const SYSTEM_CHARS = 400;
/** Total characters of input above which a summarize cue counts as long-input summarization. */
export const LONG_INPUT_CHARS = 6_000;

// Each cue is one regex over already lower-cased text. Word boundaries keep "javascript" from matching
// "java" twice and "approve" from matching "prove".
const CODE_FENCE = /```/;
const CODE_SYNTAX =
  /(?:^|\n)\s*(?:def |class |import |from \S+ import|#include|function |const |let |fn |pub fn|package |func |public (?:static )?(?:void|class))|=>|\bselect\b[^;]{1,80}\bfrom\b|\);\s*(?:\n|$)|\{\s*\n/;
const CODE_WORDS =
  /\b(?:python|javascript|typescript|golang|rust|java|kotlin|swift|c\+\+|c#|sql|bash|regex|function|compile[rd]?|stack ?trace|traceback|refactor|unit tests?|bug|debug|api endpoint|snippet|script|code)\b/;
const REASONING =
  /\b(?:prove|proof|theorem|lemma|step[- ]by[- ]step|derive|deduce|math|equation|integral|probability|solve|calculate|compute|logic puzzle|riddle|how many|reason (?:about|through)|think carefully)\b|\d\s*[-+*/^]\s*\d+\s*=|[∫∑√≤≥]/;
const SUMMARIZE = /\b(?:summari[sz]e|summary|summarization|tl;?dr|key points|condense|recap|gist)\b/;
const DRAFTING =
  /\b(?:write|draft|compose|pen)\b[^.?!\n]{0,48}\b(?:e-?mail|post|story|letter|essay|blog|article|poem|haiku|limerick|sonnet|lyrics|slogan|tweet|announcement|speech|newsletter|message|cover letter|press release|bio|toast|reply)\b/;

/** Text of a message's content, bounded to `limit` characters from the start or the end. */
function textOf(content: string | readonly ContentPart[] | null | undefined): string {
  if (!content) return '';
  if (typeof content === 'string') return content;
  let s = '';
  for (const p of content) if (p.type === 'text') s += s ? `\n${p.text}` : p.text;
  return s;
}

function contentLength(content: string | readonly ContentPart[] | null | undefined): number {
  if (!content) return 0;
  if (typeof content === 'string') return content.length;
  let n = 0;
  for (const p of content) if (p.type === 'text') n += p.text.length;
  return n;
}

function hasImage(content: string | readonly ContentPart[] | null | undefined): boolean {
  if (!content || typeof content === 'string') return false;
  for (const p of content) if (p.type === 'image_url') return true;
  return false;
}

function bounded(text: string): string {
  if (text.length <= HEAD_CHARS + TAIL_CHARS) return text.toLowerCase();
  return `${text.slice(0, HEAD_CHARS)}\n${text.slice(text.length - TAIL_CHARS)}`.toLowerCase();
}

/** Classifies a request. A stated task type wins; features then still say what the request needs. */
export function classify(request: RouteRequest): Classification {
  const features: string[] = [];
  const requires: Capability[] = [];
  const messages = request.messages;

  // Structural features: one pass over the messages (no text is read here).
  let toolResults = false;
  let toolCalls = false;
  let images = false;
  let totalChars = 0;
  let lastUser = -1;
  let system = -1;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    totalChars += contentLength(m.content);
    if (m.role === 'user') {
      lastUser = i;
      if (!images && hasImage(m.content)) images = true;
    } else if (m.role === 'tool') toolResults = true;
    else if (m.role === 'assistant' && m.tool_calls && m.tool_calls.length > 0) toolCalls = true;
    else if (m.role === 'system' && system < 0) system = i;
  }
  const toolsOffered = !!request.tools && request.tools.length > 0 && request.toolChoice !== 'none';
  if (toolsOffered) features.push('tools_offered');
  if (toolResults) features.push('tool_results');
  if (toolCalls) features.push('assistant_tool_calls');
  if (toolsOffered || toolResults || toolCalls) requires.push('tools');
  if (images) {
    features.push('image_part');
    requires.push('vision');
  }
  const rf = request.responseFormat?.type;
  if (rf === 'json_schema') {
    features.push('json_schema');
    requires.push('json_schema');
  } else if (rf === 'json_object') {
    features.push('json_mode');
    requires.push('json_mode');
  }

  let taskType: TaskType | undefined;
  if (toolsOffered || toolResults || toolCalls) taskType = 'tool_use';
  else if (images) taskType = 'vision';
  else if (rf === 'json_schema' || rf === 'json_object') taskType = 'extraction';

  if (request.taskType) {
    return { taskType: request.taskType, stated: true, features: ['stated', ...features], requires };
  }
  if (taskType) return { taskType, stated: false, features, requires };

  // Text cues on the ask (bounded).
  const ask = lastUser >= 0 ? bounded(textOf(messages[lastUser]!.content)) : '';
  const sys = system >= 0 ? textOf(messages[system]!.content).slice(0, SYSTEM_CHARS).toLowerCase() : '';
  const longInput = totalChars >= LONG_INPUT_CHARS;

  let m: RegExpExecArray | null;
  if (CODE_FENCE.test(ask)) features.push('code_fence');
  else if ((m = CODE_SYNTAX.exec(ask))) features.push(`code_syntax:${m[0].trim().slice(0, 16)}`);
  if ((m = CODE_WORDS.exec(ask)) || (m = CODE_WORDS.exec(sys))) features.push(`keyword:${m[0]}`);
  const codeFeatures = features.length;
  const code = codeFeatures > 0;
  if (code) return { taskType: 'code', stated: false, features, requires };

  if ((m = REASONING.exec(ask))) {
    features.push(`keyword:${m[0].trim()}`);
    return { taskType: 'reasoning', stated: false, features, requires };
  }
  if ((m = SUMMARIZE.exec(ask))) {
    features.push(`keyword:${m[0]}`);
    if (longInput) features.push('long_input');
    return { taskType: 'summarization', stated: false, features, requires };
  }
  if ((m = DRAFTING.exec(ask))) {
    features.push(`drafting:${m[0].slice(0, 40)}`);
    return { taskType: 'drafting', stated: false, features, requires };
  }
  if (longInput) features.push('long_input');
  features.push('default');
  return { taskType: 'chat', stated: false, features, requires };
}
