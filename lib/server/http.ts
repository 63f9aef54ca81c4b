import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { LckvError } from '../errors';

/** An error answered in OpenAI's shape: { error: { message, type, param, code } }. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Maps an error of the model to its HTTP answer. */
export function toHttpError(err: unknown, param: string | null = null): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof LckvError) {
    switch (err.code) {
      case 'INVALID_ARGUMENT':
      case 'TOKEN_OUT_OF_RANGE':
        return new HttpError(400, err.message, 'invalid_request_error', param, err.code.toLowerCase());
      case 'CONTEXT_OVERFLOW':
        return new HttpError(400, err.message, 'invalid_request_error', param, 'context_length_exceeded');
      case 'NO_TOKENIZER':
        return new HttpError(400, err.message, 'invalid_request_error', param, 'no_tokenizer');
      case 'BUSY':
      case 'OUT_OF_MEMORY':
      case 'DISPOSED':
        return new HttpError(503, err.message, 'server_error', null, err.code.toLowerCase(), { 'Retry-After': '1' });
      default:
        return new HttpError(500, err.message, 'server_error', null, err.code.toLowerCase());
    }
  }
  return new HttpError(500, 'internal server error', 'server_error', null, 'internal');
}

/**
 * The route of a request target: its path without the query, trailing slashes trimmed, and
 * for /v1/models/{id} the decoded id. A target that is no path (an absolute-form URL a proxy
 * sends is reduced to its path) or an id that is not valid percent-encoding is a 400.
 */
export function routeOf(target: string): { path: string; modelId: string } {
  let path = target.split(/[?#]/, 1)[0];
  if (!path.startsWith('/')) {
    try {
      path = new URL(target).pathname;
    } catch {
      throw new HttpError(400, 'the request target is not a path', 'invalid_request_error', null, 'invalid_request_target');
    }
  }
  path = path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
  const models = '/v1/models/';
  if (!path.startsWith(models)) return { path, modelId: '' };
  try {
    return { path: models, modelId: decodeURIComponent(path.slice(models.length)) };
  } catch {
    throw new HttpError(400, 'the model id in the path is not valid percent-encoding', 'invalid_request_error', null, 'invalid_request_target');
  }
}

/**
 * Answers a request Node's HTTP parser refused (bad framing, oversized headers, a timeout)
 * in the same JSON shape as every other error, then closes the connection.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
  const [status, reason, code] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'headers_too_large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request_timeout']
        : [400, 'Bad Request', 'malformed_request'];
  const body = JSON.stringify(new HttpError(status, `the request could not be read: ${reason.toLowerCase()}`, 'invalid_request_error', null, code).body());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, err.body(), err.headers);
}

/**
 * Reads the request body, at most `limit` bytes. A larger body (declared or sent) is
 * answered 413 and the connection closed after the answer.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new HttpError(413, `the request body is larger than ${limit} bytes`, 'invalid_request_error', null, 'request_too_large', {
        Connection: 'close',
      });
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) {
        failed = true;
        reject(err);
      }
    });
  });
}

/** Parses a JSON object body; anything else is a 400. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `the request body is not valid JSON: ${(err as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  return value as Record<string, unknown>;
}
