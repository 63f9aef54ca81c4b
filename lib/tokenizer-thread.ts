import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LckvError } from './errors';

/** What a tokenizer is built from: tokenizer.json and tokenizer_config.json, parsed. */
export interface TokenizerSource {
  json: Record<string, unknown>;
  config: Record<string, unknown>;
}

/** A message to the worker, and its answer: the ids, or why the tokenizer refused the text. */
export interface EncodeRequest {
  id: number;
  text: string;
  addSpecialTokens: boolean;
}
export type EncodeAnswer = { id: number; ids: Int32Array } | { id: number; error: string };

type Encode = (text: string, addSpecialTokens: boolean) => number[];

interface Pending {
  request: EncodeRequest;
  resolve(ids: number[]): void;
  reject(err: unknown): void;
}

/** The worker's script, and how to run it when this module runs from its TypeScript source (tests, via tsx). */
function workerEntry(): { file: string; execArgv: string[] } {
  if (path.extname(__filename) === '.ts')
    return { file: path.join(__dirname, 'tokenizer-worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
  return { file: path.join(__dirname, 'tokenizer-worker.js'), execArgv: [] };
}

/**
 * One worker thread encoding texts in the order asked. It is started on first use and holds
 * the process open only while a text is in it. When it cannot start or dies (a bundler that
 * left its script behind, a sandbox without workers), the texts it held and every later one
 * are encoded by `inline` on the calling thread, slower for the event loop but never lost,
 * and a process warning (code LCKV_TOKENIZER_THREAD) says why, once.
 */
export class TokenizerThread {
  private worker: Worker | undefined;
  /** Closed, or the worker failed: no worker starts again. */
  private stopped = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly source: TokenizerSource,
    private readonly inline: Encode,
  ) {}

  encode(text: string, addSpecialTokens: boolean): Promise<number[]> {
    const worker = this.start();
    if (!worker) return Promise.resolve().then(() => this.inline(text, addSpecialTokens));
    return new Promise((resolve, reject) => {
      const request = { id: this.nextId++, text, addSpecialTokens };
      this.pending.set(request.id, { request, resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage(request);
    });
  }

  /** Ends the worker; texts still in it are encoded here. */
  close(): void {
    this.stopped = true;
    void this.worker?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker || this.stopped) return this.worker;
    try {
      const { file, execArgv } = workerEntry();
      const worker = new Worker(file, { workerData: this.source, execArgv });
      worker.unref();
      worker.on('message', (answer: EncodeAnswer) => this.settle(answer));
      worker.on('error', (err) => this.fail(worker, err.message));
      // An answer that cannot be read names no request: end the worker, whose exit settles them all.
      worker.on('messageerror', () => void worker.terminate());
      worker.on('exit', (code) => this.fail(worker, `it exited with code ${code}`));
      this.worker = worker;
    } catch (err) {
      this.warn((err as Error).message);
      this.stopped = true;
    }
    return this.worker;
  }

  private warn(reason: string): void {
    process.emitWarning(`lckv: the tokenizer's worker thread failed (${reason}); long texts are tokenized on the calling thread`, {
      code: 'LCKV_TOKENIZER_THREAD',
    });
  }

  private settle(answer: EncodeAnswer): void {
    const p = this.pending.get(answer.id);
    if (!p) return;
    this.pending.delete(answer.id);
    if (this.pending.size === 0) this.worker?.unref();
    if ('error' in answer) p.reject(new LckvError('INVALID_TOKENIZER', answer.error));
    else p.resolve(Array.from(answer.ids));
  }

  private fail(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (!this.stopped) this.warn(reason);
    this.stopped = true;
    const left = [...this.pending.values()];
    this.pending.clear();
    for (const p of left) {
      try {
        p.resolve(this.inline(p.request.text, p.request.addSpecialTokens));
      } catch (err) {
        p.reject(err);
      }
    }
  }
}
