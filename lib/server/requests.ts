import type { GenerateOptions, PrefillMode } from '../options';
import type { ChatMessage } from '../chat-template';
import { HttpError } from './http';

type Body = Record<string, unknown>;

/** The sampling and streaming fields shared by /v1/completions and /v1/chat/completions. */
export interface CommonRequest {
  stream: boolean;
  /** stream_options.include_usage: a last chunk carries the usage figures. */
  includeUsage: boolean;
  /** max_tokens (or max_completion_tokens); undefined = the endpoint's default. */
  maxTokens: number | undefined;
  /** Everything else model.stream needs, except maxTokens and signal. */
  options: GenerateOptions;
}

export interface CompletionRequest extends CommonRequest {
  /** Text, or token ids. */
  prompt: string | number[];
  echo: boolean;
}

export interface ChatRequest extends CommonRequest {
  messages: ChatMessage[];
}

function bad(param: string, message: string, code = 'invalid_value'): never {
  throw new HttpError(400, message, 'invalid_request_error', param, code);
}

function unsupported(param: string, message: string): never {
  throw new HttpError(400, message, 'invalid_request_error', param, 'unsupported_parameter');
}

const isNone = (v: unknown) => v === undefined || v === null;

function num(body: Body, key: string, min: number, max: number, opts: { integer?: boolean; exclusiveMin?: boolean } = {}): number | undefined {
  const v = body[key];
  if (isNone(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(key, `'${key}' must be a number`, 'invalid_type');
  if (opts.integer && !Number.isInteger(v)) bad(key, `'${key}' must be an integer`, 'invalid_type');
  if (v < min || v > max || (opts.exclusiveMin && v === min))
    bad(key, `'${key}' must be ${opts.exclusiveMin ? 'greater than' : 'at least'} ${min} and at most ${max}, got ${v}`);
  return v;
}

function bool(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (isNone(v)) return undefined;
  if (typeof v !== 'boolean') bad(key, `'${key}' must be a boolean`, 'invalid_type');
  return v;
}

function common(body: Body): CommonRequest {
  if (!isNone(body.model) && typeof body.model !== 'string') bad('model', "'model' must be a string", 'invalid_type');
  const n = num(body, 'n', 1, 1, { integer: true });
  void n;
  const best = num(body, 'best_of', 1, 1, { integer: true });
  void best;
  for (const key of ['presence_penalty', 'frequency_penalty']) {
    const v = num(body, key, -2, 2);
    if (v !== undefined && v !== 0) unsupported(key, `'${key}' is not supported; use 'repetition_penalty' (an extension) instead`);
  }
  const bias = body.logit_bias;
  if (!isNone(bias)) {
    if (typeof bias !== 'object' || Array.isArray(bias)) bad('logit_bias', "'logit_bias' must be an object", 'invalid_type');
    if (Object.keys(bias as object).length > 0) unsupported('logit_bias', "'logit_bias' is not supported");
  }
  if (!isNone(body.user) && typeof body.user !== 'string') bad('user', "'user' must be a string", 'invalid_type');

  const stream = bool(body, 'stream') ?? false;
  let includeUsage = false;
  const so = body.stream_options;
  if (!isNone(so)) {
    if (typeof so !== 'object' || Array.isArray(so)) bad('stream_options', "'stream_options' must be an object", 'invalid_type');
    const iu = (so as Body).include_usage;
    if (!isNone(iu) && typeof iu !== 'boolean') bad('stream_options', "'stream_options.include_usage' must be a boolean", 'invalid_type');
    includeUsage = iu === true;
  }

  const maxTokens = num(body, 'max_completion_tokens', 0, 1e9, { integer: true }) ?? num(body, 'max_tokens', 0, 1e9, { integer: true });

  let stop: string[] | undefined;
  const s = body.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s)) stop = s as string[];
  else if (!isNone(s)) bad('stop', "'stop' must be a string or an array of strings", 'invalid_type');
  if (stop) {
    if (stop.length > 16) bad('stop', "'stop' may hold at most 16 strings");
    if (!stop.every((x) => typeof x === 'string')) bad('stop', "'stop' must be a string or an array of strings", 'invalid_type');
    stop = stop.filter((x) => x.length > 0);
    if (stop.length === 0) stop = undefined;
  }

  let seed = num(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { integer: true });
  // The model takes 32-bit seeds; any integer is accepted and reduced modulo 2^32.
  if (seed !== undefined) seed = ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;

  let prefill: PrefillMode | undefined;
  if (!isNone(body.prefill)) {
    if (body.prefill !== 'auto' && body.prefill !== 'iterative' && body.prefill !== 'sequential')
      bad('prefill', "'prefill' must be 'auto', 'iterative' or 'sequential'");
    prefill = body.prefill;
  }

  return {
    stream,
    includeUsage: stream && includeUsage,
    maxTokens,
    options: {
      temperature: num(body, 'temperature', 0, 2),
      topP: num(body, 'top_p', 0, 1),
      topK: num(body, 'top_k', 0, 1e9, { integer: true }),
      minP: num(body, 'min_p', 0, 1),
      repetitionPenalty: num(body, 'repetition_penalty', 0, 100, { exclusiveMin: true }),
      seed,
      stop,
      prefill,
    },
  };
}

function tokenList(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);
}

export function parseCompletionRequest(body: Body): CompletionRequest {
  const c = common(body);
  if (!isNone(body.suffix) && body.suffix !== '') unsupported('suffix', "'suffix' is not supported");
  if (!isNone(body.logprobs) && body.logprobs !== 0) unsupported('logprobs', "'logprobs' is not supported");
  let prompt: string | number[];
  const p = body.prompt;
  if (typeof p === 'string') prompt = p;
  else if (tokenList(p)) prompt = p;
  else if (Array.isArray(p) && p.length === 1 && (typeof p[0] === 'string' || tokenList(p[0]))) prompt = p[0];
  else if (Array.isArray(p) && p.length > 1 && p.every((x) => typeof x === 'string' || tokenList(x)))
    unsupported('prompt', 'one prompt per request: batches of prompts are not supported (send concurrent requests)');
  else if (isNone(p)) bad('prompt', "'prompt' is required", 'missing_required_parameter');
  else bad('prompt', "'prompt' must be a string or an array of token ids", 'invalid_type');
  return { ...c, prompt, echo: bool(body, 'echo') ?? false };
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function content(v: unknown, param: string): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    return v
      .map((part, j) => {
        if (typeof part !== 'object' || part === null) bad(`${param}[${j}]`, 'content parts must be objects', 'invalid_type');
        const { type, text } = part as Body;
        if (type !== 'text') unsupported(`${param}[${j}]`, `content parts of type '${String(type)}' are not supported (text only)`);
        if (typeof text !== 'string') bad(`${param}[${j}].text`, 'a text part needs a string `text`', 'invalid_type');
        return text;
      })
      .join('\n');
  }
  bad(param, 'message content must be a string or an array of text parts', 'invalid_type');
}

export function parseChatRequest(body: Body): ChatRequest {
  const c = common(body);
  if (!isNone(body.logprobs) && body.logprobs !== false) unsupported('logprobs', "'logprobs' is not supported");
  if (Array.isArray(body.tools) && body.tools.length > 0) unsupported('tools', "'tools' are not supported");
  const rf = body.response_format;
  if (!isNone(rf) && (typeof rf !== 'object' || (rf as Body).type !== 'text'))
    unsupported('response_format', "only response_format { type: 'text' } is supported");
  const m = body.messages;
  if (isNone(m)) bad('messages', "'messages' is required", 'missing_required_parameter');
  if (!Array.isArray(m)) bad('messages', "'messages' must be an array", 'invalid_type');
  if (m.length === 0) bad('messages', "'messages' must hold at least one message");
  const messages = m.map((msg, i): ChatMessage => {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) bad(`messages[${i}]`, 'each message must be an object', 'invalid_type');
    const { role } = msg as Body;
    if (typeof role !== 'string' || !ROLES.has(role))
      bad(`messages[${i}].role`, `messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    return { role, content: content((msg as Body).content, `messages[${i}].content`) };
  });
  return { ...c, messages };
}
