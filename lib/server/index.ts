import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import * as http from 'node:http';
import { LckvError } from '../errors';
import type { Model, GenerateResult, FinishReason } from '../model';
import type { GenerateOptions } from '../options';
import { ChatTemplate } from '../chat-template';
import { HttpError, answerClientError, parseJsonObject, readBody, routeOf, sendError, sendJson, toHttpError } from './http';
import { parseChatRequest, parseCompletionRequest, type CommonRequest } from './requests';

export { HttpError } from './http';

export interface ServerOptions {
  /** The name /v1/models lists and responses carry (default 'lckv'). Requests may name any model. */
  modelId?: string;
  /** The chat template for /v1/chat/completions (default: the model's, `model.chatTemplate`). */
  chatTemplate?: ChatTemplate;
  /** When set, /v1/* requests need `Authorization: Bearer <apiKey>` (401 otherwise). /health stays open. */
  apiKey?: string;
  /** Largest request body in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /**
   * Most generation requests handed to the model at once, running or waiting for their
   * turn (default 64); requests past it get 503 with Retry-After.
   */
  maxQueue?: number;
  /** Called once per finished request with a one-line summary (e.g. for an access log). */
  log?: (line: string) => void;
}

/** Default figures of ServerOptions. */
export const SERVER_DEFAULTS = { modelId: 'lckv', maxBodyBytes: 1024 * 1024, maxQueue: 64 } as const;

/** The completions' default max_tokens when a request sets none (OpenAI's default). */
const COMPLETION_DEFAULT_MAX_TOKENS = 16;

type Route = { GET?: Handler; POST?: Handler };
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, extra: string) => Promise<void> | void;

function checkOptions(o: ServerOptions) {
  const fail = (m: string) => {
    throw new LckvError('INVALID_ARGUMENT', `createServer: ${m}`);
  };
  if (typeof o !== 'object' || o === null) fail('options must be an object');
  if (o.modelId !== undefined && (typeof o.modelId !== 'string' || o.modelId.length === 0)) fail('modelId must be a non-empty string');
  if (o.apiKey !== undefined && (typeof o.apiKey !== 'string' || o.apiKey.length === 0)) fail('apiKey must be a non-empty string');
  if (o.maxBodyBytes !== undefined && !(Number.isSafeInteger(o.maxBodyBytes) && o.maxBodyBytes > 0)) fail('maxBodyBytes must be a positive integer');
  if (o.maxQueue !== undefined && !(Number.isSafeInteger(o.maxQueue) && o.maxQueue > 0)) fail('maxQueue must be a positive integer');
  if (o.chatTemplate !== undefined && !(o.chatTemplate instanceof ChatTemplate)) fail('chatTemplate must be a ChatTemplate');
  if (o.log !== undefined && typeof o.log !== 'function') fail('log must be a function');
}

/**
 * An OpenAI-compatible HTTP server for one model (node:http, not yet listening):
 * GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions.
 * Concurrent requests are handed to the model concurrently; a client that disconnects
 * aborts its generation. Call `listen(port, host)` on the result; closing the server does
 * not dispose the model.
 */
export function createServer(model: Model, options: ServerOptions = {}): http.Server {
  checkOptions(options);
  const modelId = options.modelId ?? SERVER_DEFAULTS.modelId;
  const template = options.chatTemplate ?? model.chatTemplate;
  const maxBody = options.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes;
  const maxQueue = options.maxQueue ?? SERVER_DEFAULTS.maxQueue;
  const keyHash = options.apiKey === undefined ? undefined : createHash('sha256').update(options.apiKey).digest();
  const created = Math.floor(Date.now() / 1000);
  const contextLength = model.info.contextLength;
  let active = 0;

  const modelObject = () => ({ id: modelId, object: 'model', created, owned_by: 'lckv' });

  const authorized = (req: http.IncomingMessage): boolean => {
    if (!keyHash) return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) return false;
    return timingSafeEqual(createHash('sha256').update(m[1].trim()).digest(), keyHash);
  };

  /**
   * Runs one generation request: the queue bound, the abort wiring, the prompt's tokens
   * (`promptIds`; a request counts against maxQueue and hears its client leave while they
   * are computed), JSON or SSE output. `defaultMaxTokens`: max_tokens when the request sets
   * none, given the prompt's length.
   */
  async function generate(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    kind: 'completion' | 'chat',
    common: CommonRequest,
    promptIds: (signal: AbortSignal) => Promise<number[]>,
    defaultMaxTokens: (promptTokens: number) => number,
    extraStop: string[],
    echo: string,
  ): Promise<void> {
    const param = kind === 'chat' ? 'messages' : 'prompt';
    if (active >= maxQueue)
      throw new HttpError(503, `the server is busy (${active} requests in progress); retry later`, 'server_error', null, 'overloaded', { 'Retry-After': '1' });
    active++;
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableEnded) abort.abort();
    };
    // A pipelined response still waiting its turn gets no 'close' when the connection drops:
    // its socket does.
    const socket = req.socket;
    res.on('close', onClose);
    socket.on('close', onClose);
    try {
      const ids = await promptIds(abort.signal);
      if (abort.signal.aborted) return;
      if (ids.length > contextLength)
        throw new HttpError(400, `the prompt has ${ids.length} tokens; the model's context holds ${contextLength}`, 'invalid_request_error', param, 'context_length_exceeded');
      const stop = [...(common.options.stop ?? []), ...extraStop];
      const opts: GenerateOptions = {
        ...common.options,
        stop: stop.length > 0 ? stop : undefined,
        maxTokens: common.maxTokens ?? defaultMaxTokens(ids.length),
        signal: abort.signal,
      };
      const id = (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + randomBytes(12).toString('hex');
      const stamp = Math.floor(Date.now() / 1000);
      if (common.stream) await streamResponse(res, kind, id, stamp, ids, opts, common.includeUsage, echo, param);
      else {
        const result = await model.generate(ids, opts);
        if (result.finishReason === 'abort') return; // the client has gone
        sendJson(res, 200, finalBody(kind, id, stamp, echo + result.text, result));
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      throw toHttpError(err, param);
    } finally {
      active--;
      res.off('close', onClose);
      socket.off('close', onClose);
    }
  }

  function finalBody(kind: 'completion' | 'chat', id: string, stamp: number, text: string, r: GenerateResult) {
    const usage = usageOf(r);
    const finish = finishReason(r.finishReason);
    if (kind === 'chat')
      return {
        id,
        object: 'chat.completion',
        created: stamp,
        model: modelId,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finish }],
        usage,
      };
    return {
      id,
      object: 'text_completion',
      created: stamp,
      model: modelId,
      choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
      usage,
    };
  }

  async function streamResponse(
    res: http.ServerResponse,
    kind: 'completion' | 'chat',
    id: string,
    stamp: number,
    ids: number[],
    opts: GenerateOptions,
    includeUsage: boolean,
    echo: string,
    param: string,
  ): Promise<void> {
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const chunk = (choice: Record<string, unknown> | null, usage?: unknown) => ({
      id,
      object,
      created: stamp,
      model: modelId,
      choices: choice ? [{ index: 0, ...choice, logprobs: null }] : [],
      ...(includeUsage ? { usage: usage ?? null } : {}),
    });
    const piece = (text: string, finish: string | null) =>
      kind === 'chat' ? chunk({ delta: text ? { content: text } : {}, finish_reason: finish }) : chunk({ text, finish_reason: finish });

    const signal = opts.signal as AbortSignal;
    const it = model.stream(ids, opts);
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.flushHeaders();
    };
    try {
      // The first step validates the request inside the model; errors there still get a status code.
      let step = await it.next();
      if (opts.signal?.aborted) return;
      start();
      if (kind === 'chat') await send(res, signal, chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }));
      if (echo) await send(res, signal, piece(echo, null));
      while (!step.done) {
        if (step.value.text) await send(res, signal, piece(step.value.text, null));
        if (res.destroyed || signal.aborted) break;
        step = await it.next();
      }
      if (!step.done || step.value.finishReason === 'abort') return;
      await send(res, signal, piece('', finishReason(step.value.finishReason)));
      if (includeUsage) await send(res, signal, chunk(null, usageOf(step.value)));
      res.end('data: [DONE]\n\n');
    } catch (err) {
      if (!started || opts.signal?.aborted) throw err;
      // Headers are gone: report in the stream (the openai client raises it) and end.
      const e = toHttpError(err, param);
      if (!res.destroyed) res.end(`data: ${JSON.stringify(e.body())}\n\n`);
    } finally {
      await it.return(undefined as never).catch(() => undefined);
    }
  }

  const routes: Record<string, Route> = {
    '/health': {
      GET: (_req, res) => sendJson(res, 200, { status: 'ok', model: modelId, active, max_queue: maxQueue }),
    },
    '/v1/models': {
      GET: (_req, res) => sendJson(res, 200, { object: 'list', data: [modelObject()] }),
    },
    '/v1/models/': {
      GET: (_req, res, name) => {
        if (name !== modelId) throw new HttpError(404, `the model '${name}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
        sendJson(res, 200, modelObject());
      },
    },
    '/v1/completions': {
      POST: async (req, res) => {
        const body = parseJsonObject(await readBody(req, maxBody));
        const r = parseCompletionRequest(body);
        const prompt = r.prompt;
        const ids = async (signal: AbortSignal) => (typeof prompt === 'string' ? model.tokenizeAsync(prompt, { signal }) : prompt);
        const echo = r.echo ? (typeof prompt === 'string' ? prompt : safeDetokenize(model, prompt)) : '';
        await generate(req, res, 'completion', r, ids, () => COMPLETION_DEFAULT_MAX_TOKENS, [], echo);
      },
    },
    '/v1/chat/completions': {
      POST: async (req, res) => {
        const body = parseJsonObject(await readBody(req, maxBody));
        const r = parseChatRequest(body);
        // A chat reply may run to the end of the context unless max_tokens says otherwise.
        const toEnd = (promptTokens: number) => Math.max(0, contextLength - promptTokens);
        await generate(req, res, 'chat', r, (signal) => template.tokenize(model, r.messages, { signal }), toEnd, template.stop, '');
      },
    },
  };

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    const shown = (req.url ?? '/').split(/[?#]/, 1)[0];
    res.on('finish', () => {
      if (options.log) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        options.log(`${req.method} ${shown} ${res.statusCode} ${ms.toFixed(0)} ms`);
      }
    });
    const handle = async () => {
      const { path: pathname, modelId: extra } = routeOf(req.url ?? '/');
      const route = Object.prototype.hasOwnProperty.call(routes, pathname) ? routes[pathname] : undefined;
      if (!route) throw new HttpError(404, `no route ${req.method} ${pathname}`, 'invalid_request_error', null, 'not_found');
      if (pathname.startsWith('/v1/') && !authorized(req))
        throw new HttpError(401, 'a valid API key is required (Authorization: Bearer <key>)', 'invalid_request_error', null, 'invalid_api_key', {
          'WWW-Authenticate': 'Bearer',
        });
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const handler = method === 'GET' || method === 'POST' ? route[method] : undefined;
      if (!handler) {
        const allow = Object.keys(route).join(', ');
        throw new HttpError(405, `${req.method} is not allowed on ${pathname} (allowed: ${allow})`, 'invalid_request_error', null, 'method_not_allowed', {
          Allow: allow,
        });
      }
      await handler(req, res, extra);
    };
    handle().catch((err) => {
      const e = toHttpError(err);
      if (e.status >= 500 && !(err instanceof HttpError) && options.log) options.log(`error: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendError(res, e);
      else if (!res.writableEnded) res.end();
    });
  });
  server.on('clientError', answerClientError);
  // A client that stalls sending its request holds a connection: bounded well below Node's
  // defaults (60 s for the headers, 300 s for the whole request), which suit uploads.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  return server;
}

function safeDetokenize(model: Model, ids: number[]): string {
  try {
    return model.detokenize(ids);
  } catch (err) {
    throw toHttpError(err, 'prompt');
  }
}

function usageOf(r: GenerateResult) {
  return { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens };
}

function finishReason(f: FinishReason): string {
  return f === 'length' ? 'length' : 'stop';
}

/** Writes one server-sent event; waits while the client is not reading (backpressure), until it leaves. */
function send(res: http.ServerResponse, gone: AbortSignal, data: unknown): Promise<void> {
  if (res.destroyed || res.writableEnded || gone.aborted) return Promise.resolve();
  if (res.write(`data: ${JSON.stringify(data)}\n\n`)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      gone.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    gone.addEventListener('abort', done);
  });
}
