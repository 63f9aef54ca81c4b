import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PreparedChat } from './chat-template';
import { LckvError, type LckvErrorCode } from './errors';

/** What a tokenizer is built from: tokenizer.json and tokenizer_config.json, parsed. */
export interface TokenizerSource {
  json: Record<string, unknown>;
  config: Record<string, unknown>;
}

/**
 * What to encode: a text, or a conversation to render with its chat template first. And
 * the answer: the ids, or the typed error the text or conversation met.
 */
export type EncodeRequest = ({ text: string } | { chat: PreparedChat }) & { addSpecialTokens: boolean };
export type EncodeAnswer = { ids: Int32Array } | { error: string; code: LckvErrorCode };

type Encode = (request: EncodeRequest) => number[];

/** A text waiting for its ids; settled once (its ids, its error, or ABORTED). */
interface Pending {
  request: EncodeRequest;
  resolve(ids: number[]): void;
  reject(err: unknown): void;
  settled: boolean;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Ids are copied into a JavaScript array this many at a time, the event loop turning between. */
const COPY_CHUNK = 1 << 16;

/** The worker's script, and how to run it when this module runs from its TypeScript source (tests, via tsx). */
function workerEntry(): { file: string; execArgv: string[] } {
  if (path.extname(__filename) === '.ts')
    return { file: path.join(__dirname, 'tokenizer-worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
  return { file: path.join(__dirname, 'tokenizer-worker.js'), execArgv: [] };
}

export function abortedError(): LckvError {
  return new LckvError('ABORTED', 'the tokenization was aborted');
}

/** The ids as a JavaScript array, copied in chunks with a turn of the event loop between (15M ids take ~0.7 s). */
async function toArray(ids: Int32Array): Promise<number[]> {
  const out: number[] = [];
  for (let begin = 0; begin < ids.length; begin += COPY_CHUNK) {
    if (begin > 0) await new Promise((resolve) => setImmediate(resolve));
    const end = Math.min(ids.length, begin + COPY_CHUNK);
    for (let i = begin; i < end; i++) out.push(ids[i]);
  }
  return out;
}

/**
 * One worker thread encoding texts in the order asked, one at a time: texts wait here, so
 * one whose signal aborts is dropped without costing the worker anything (one already in
 * the worker is finished there and its ids dropped). The worker starts on first use and
 * holds the process open only while it encodes. When it cannot start or dies (a bundler
 * that left its script behind, a sandbox without workers), its text and every later one
 * are encoded by `inline` on the calling thread, slower for the event loop but never lost,
 * and a process warning (code LCKV_TOKENIZER_THREAD) says why, once.
 */
export class TokenizerThread {
  private worker: Worker | undefined;
  /** Closed, or the worker failed: no worker starts again. */
  private stopped = false;
  private readonly queue: Pending[] = [];
  /** The text in the worker. */
  private current: Pending | undefined;

  constructor(
    private readonly source: TokenizerSource,
    private readonly inline: Encode,
  ) {}

  /** The request's ids; rejects with ABORTED as soon as `signal` aborts. */
  encode(request: EncodeRequest, signal?: AbortSignal): Promise<number[]> {
    if (signal?.aborted) return Promise.reject(abortedError());
    return new Promise((resolve, reject) => {
      const p: Pending = { request, resolve, reject, settled: false, signal };
      if (signal) {
        p.onAbort = () => this.withdraw(p);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.queue.push(p);
      this.next();
    });
  }

  /** Ends the worker; texts still waiting are encoded here. */
  close(): void {
    this.stopped = true;
    void this.worker?.terminate();
  }

  /** Hands the worker its next text, or encodes every waiting text here when no worker can run. */
  private next(): void {
    while (!this.current) {
      const p = this.queue.shift();
      if (!p) return;
      const worker = this.start();
      if (!worker) {
        this.encodeHere(p);
        continue;
      }
      try {
        worker.postMessage(p.request);
      } catch (err) {
        // Nothing of it reached the worker (a value that cannot be copied): only this text fails.
        const reason = (err as Error)?.message ?? String(err);
        this.settle(p, () => p.reject(new LckvError('INVALID_ARGUMENT', `the text cannot be handed to the tokenizer's worker: ${reason}`)));
        continue;
      }
      this.current = p;
      worker.ref();
    }
  }

  private withdraw(p: Pending): void {
    const at = this.queue.indexOf(p);
    if (at >= 0) this.queue.splice(at, 1);
    this.settle(p, () => p.reject(abortedError()));
  }

  private settle(p: Pending, how: () => void): void {
    if (p.settled) return;
    p.settled = true;
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    how();
  }

  private encodeHere(p: Pending): void {
    if (p.settled) return;
    try {
      const ids = this.inline(p.request);
      this.settle(p, () => p.resolve(ids));
    } catch (err) {
      this.settle(p, () => p.reject(err));
    }
  }

  private start(): Worker | undefined {
    if (this.worker || this.stopped) return this.worker;
    try {
      const { file, execArgv } = workerEntry();
      const worker = new Worker(file, { workerData: this.source, execArgv });
      worker.unref();
      worker.on('message', (answer: EncodeAnswer) => this.answered(answer));
      worker.on('error', (err) => this.fail(worker, (err as Error)?.message ?? String(err)));
      // An answer that cannot be read: end the worker, whose exit settles its text.
      worker.on('messageerror', () => void worker.terminate());
      worker.on('exit', (code) => this.fail(worker, `it exited with code ${code}`));
      this.worker = worker;
    } catch (err) {
      this.warn((err as Error)?.message ?? String(err));
      this.stopped = true;
    }
    return this.worker;
  }

  private warn(reason: string): void {
    process.emitWarning(`lckv: the tokenizer's worker thread failed (${reason}); long texts are tokenized on the calling thread`, {
      code: 'LCKV_TOKENIZER_THREAD',
    });
  }

  private answered(answer: EncodeAnswer): void {
    const p = this.current;
    this.current = undefined;
    this.worker?.unref();
    this.next();
    if (!p || p.settled) return;
    if ('error' in answer) return this.settle(p, () => p.reject(new LckvError(answer.code, answer.error)));
    void toArray(answer.ids).then((ids) => this.settle(p, () => p.resolve(ids)));
  }

  private fail(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (!this.stopped) this.warn(reason);
    this.stopped = true;
    const p = this.current;
    this.current = undefined;
    if (p) this.encodeHere(p);
    this.next();
  }
}
