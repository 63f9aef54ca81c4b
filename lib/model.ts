import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ChatTemplate, loadChatTemplate, type ChatMessage } from './chat-template';
import { readCheckpoint } from './checkpoint';
import { parseConfig, type ParsedConfig, type RawConfig } from './config';
import { LckvError, fromNative } from './errors';
import { readJsonObject } from './files';
import { readGenerationDefaults } from './generation-config';
import { buildInfo, type ModelInfo } from './info';
import { GenerationJob, LikelihoodJob, ScoreJob, type FinishReason, type StreamPiece } from './engine/jobs';
import { ADMISSION_POLICIES, Scheduler, type AdmissionPolicy, type EngineStats, type PrefillSpec } from './engine/scheduler';
import { nativeFor, type NativeAddon, type NativeModel } from './native';
import {
  checkDevice,
  checkGenerateOptions,
  checkNumber,
  checkOptionsObject,
  checkPrefill,
  checkSignal,
  checkTokens,
  type DeviceOption,
  type GenerateOptions,
  type PrefillOptions,
} from './options';
import type { SamplingSettings } from './sampling';
import { defaultThreads } from './threads';
import { loadTokenizer, type TextTokenizer } from './tokenizer';

export type { EngineStats, FinishReason, StreamPiece };

export interface LoadOptions {
  /**
   * Where the model runs (default 'auto'): 'cuda' needs the CUDA addon (`npm run build:cuda`)
   * and a GPU, else it rejects with DEVICE_UNAVAILABLE; 'auto' takes CUDA when both are
   * there, else the CPU. `info.device` says which.
   */
  device?: DeviceOption;
  /** Compute threads (default: the cores this process may use, capped by a cgroup CPU quota). */
  threads?: number;
  kvCache?: {
    /** Storage type of cached keys/values (default 'f16'; computation is always f32). */
    dtype?: 'f16' | 'f32' | 'bf16';
    /** KV budget in bytes (whole blocks of 16 positions; default 4 x the context, at most 1 GiB, at least one context). */
    bytes?: number;
    /** KV budget in positions, rounded up to whole blocks (instead of `bytes`). */
    tokens?: number;
    /**
     * How requests are admitted (default 'optimistic'): 'optimistic' starts a request as soon
     * as its prompt's blocks are free and preempts (then recomputes) the newest sequences when
     * the pool runs out; 'reserve' starts one only while every running request could reach
     * its maxTokens (or the context) without preemption: fewer at once, nothing recomputed.
     */
    admission?: AdmissionPolicy;
  };
  /** Most sequences decoded together in one step (default 32). */
  maxBatch?: number;
}

export interface GenerateResult {
  /** The generated text (prompt and stop string excluded). */
  text: string;
  /** The generated token ids (prompt excluded; an eos token that ended generation included). */
  tokens: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

export interface TokenizeOptions {
  /** Add the tokenizer's special tokens, e.g. <s> (default true). */
  addSpecialTokens?: boolean;
}

export interface TokenizeAsyncOptions extends TokenizeOptions {
  /** Rejects the call with ABORTED as soon as it aborts; a text not yet in the worker costs it nothing. */
  signal?: AbortSignal;
}

export interface TokenizeChatOptions {
  /** The chat template (default: the model's chatTemplate). */
  template?: ChatTemplate;
  /** End the prompt with the assistant's cue (default true). */
  addGenerationPrompt?: boolean;
  /** As TokenizeAsyncOptions' signal. */
  signal?: AbortSignal;
}

export interface PerplexityOptions extends PrefillOptions {
  /** Tokens scored per independent window (default: the model's context length). */
  context?: number;
}

/** What loadModel() read and built, handed to the Model whole. */
interface ModelParts {
  handle: NativeModel;
  addon: NativeAddon;
  parsed: ParsedConfig;
  info: ModelInfo;
  tokenizer: TextTokenizer | undefined;
  /** The chat template, or why it could not be read (raised only when a chat needs it). */
  chatTemplate: ChatTemplate | LckvError;
  defaults: Required<Omit<GenerateOptions, 'stop' | 'signal' | 'seed' | 'prefill' | 'passes'>>;
  maxBatch: number;
  admission: AdmissionPolicy;
}

export class Model {
  /** Shape, layer plan and KV figures of the loaded model. */
  readonly info: ModelInfo;
  private disposed = false;
  private readonly handle: NativeModel;
  private readonly addon: NativeAddon;
  private readonly parsed: ParsedConfig;
  private readonly tokenizer: TextTokenizer | undefined;
  private readonly template: ChatTemplate | LckvError;
  private readonly defaults: ModelParts['defaults'];
  /** Runs every native pass: admission, prefill, batched decode. */
  private readonly scheduler: Scheduler;
  /** generate/chat/logits/perplexity calls in flight: dispose() lets them finish. */
  private readonly active = new Set<Promise<unknown>>();

  /** @internal use loadModel() */
  constructor(parts: ModelParts) {
    this.handle = parts.handle;
    this.addon = parts.addon;
    this.parsed = parts.parsed;
    this.info = parts.info;
    this.tokenizer = parts.tokenizer;
    this.template = parts.chatTemplate;
    this.defaults = parts.defaults;
    this.scheduler = new Scheduler(parts.handle, parts.maxBatch, parts.addon, parts.admission);
  }

  /**
   * The checkpoint's chat template (chat_template.jinja, else tokenizer_config.json's
   * `chat_template`, else plain "User:/Assistant:" turns) that chat() and streamChat() use.
   * Throws INVALID_TOKENIZER when the checkpoint's template cannot be read or parsed.
   */
  get chatTemplate(): ChatTemplate {
    if (this.template instanceof LckvError) throw this.template;
    return this.template;
  }

  /** Live engine figures: KV blocks in use, sequences running and waiting, preemptions, throughput. */
  stats(): EngineStats {
    return this.scheduler.stats();
  }

  /**
   * Text -> token ids, with the tokenizer's special tokens (e.g. <s>) unless told otherwise,
   * on the calling thread; tokenizeAsync keeps long texts off it.
   */
  tokenize(text: string, options?: TokenizeOptions): number[] {
    const { tokenizer, addSpecialTokens } = this.checkTokenize(text, options);
    return tokenizer.encode(text, addSpecialTokens);
  }

  /**
   * tokenize(), on a worker thread for texts of 2,048 or more UTF-16 code units (encoding costs
   * ~1-7 us per character; a long document would hold up the event loop). generate, stream,
   * chat and perplexity tokenize text prompts this way.
   */
  async tokenizeAsync(text: string, options?: TokenizeAsyncOptions): Promise<number[]> {
    const { tokenizer, addSpecialTokens } = this.checkTokenize(text, options);
    const signal = checkSignal(options?.signal);
    // Tracked: dispose() lets the worker finish rather than encode the text again here.
    return this.track(tokenizer.encodeOffThread({ text, addSpecialTokens }, signal));
  }

  /**
   * Token ids of a conversation's prompt through `template` (default: chatTemplate), as
   * chat() sends it: rendered and tokenized on the worker thread when the messages are long
   * or many (rendering costs ~30 us a message), else here.
   */
  async tokenizeChat(messages: readonly ChatMessage[], options?: TokenizeChatOptions): Promise<number[]> {
    this.checkAlive();
    const opts: TokenizeChatOptions = checkOptionsObject(options);
    if (opts.template !== undefined && !(opts.template instanceof ChatTemplate)) throw new LckvError('INVALID_ARGUMENT', 'template must be a ChatTemplate');
    const signal = checkSignal(opts.signal);
    const template = opts.template ?? this.chatTemplate;
    const tokenizer = this.requireTokenizer();
    const request = { chat: template.prepare(messages, opts), addSpecialTokens: !template.fromCheckpoint };
    return this.track(tokenizer.encodeOffThread(request, signal, template));
  }

  private checkTokenize(text: string, options: TokenizeOptions | undefined) {
    this.checkAlive();
    if (typeof text !== 'string') throw new LckvError('INVALID_ARGUMENT', 'text must be a string');
    const { addSpecialTokens = true } = checkOptionsObject(options);
    if (typeof addSpecialTokens !== 'boolean') throw new LckvError('INVALID_ARGUMENT', 'addSpecialTokens must be a boolean');
    return { tokenizer: this.requireTokenizer(), addSpecialTokens };
  }

  /** Token ids -> text (special tokens skipped). */
  detokenize(ids: readonly number[]): string {
    this.checkAlive();
    const list = checkTokens(ids, this.parsed.native.vocabSize);
    return this.requireTokenizer().decode(list);
  }

  /** Logits of every position of `tokens`, row-major [tokens.length, vocabSize]. */
  async logits(tokens: readonly number[], options?: PrefillOptions): Promise<Float32Array> {
    const ids = this.checkPrompt(tokens);
    return this.track(this.allLogits(ids, checkPrefill(options)));
  }

  /**
   * Perplexity of a text (tokenized with special tokens) or of token ids: exp of the mean
   * negative log-likelihood of each next token, scored in independent windows of `context`.
   */
  async perplexity(input: string | readonly number[], options?: PerplexityOptions): Promise<number> {
    this.checkAlive();
    const opts: PerplexityOptions = checkOptionsObject(options);
    const context =
      checkNumber('context', opts.context, 2, this.parsed.native.maxPositions, true) ??
      Math.min(this.parsed.native.maxPositions, this.scheduler.capacity);
    const prefill = checkPrefill(opts);
    const ids = typeof input === 'string' ? this.tokenizeAsync(input) : checkTokens(input, this.parsed.native.vocabSize);
    return this.track(this.scoreWindows(ids, context, prefill));
  }

  private async scoreWindows(input: Promise<number[]> | number[], context: number, prefill: PrefillSpec): Promise<number> {
    const ids = await input;
    if (ids.length < 2) throw new LckvError('INVALID_ARGUMENT', 'perplexity needs at least two tokens');
    let nll = 0;
    let count = 0;
    for (let start = 0; start < ids.length - 1; start += context) {
      const window = ids.slice(start, start + context);
      if (window.length < 2) break;
      const job = new LikelihoodJob(window, prefill);
      this.scheduler.submit(job);
      const scores = await job.result;
      for (let i = 0; i + 1 < window.length; i++) nll += scores[i];
      count += window.length - 1;
    }
    return Math.exp(nll / count);
  }

  private async allLogits(ids: readonly number[], prefill: PrefillSpec): Promise<Float32Array> {
    const job = new ScoreJob(ids, prefill);
    this.scheduler.submit(job);
    return job.result;
  }

  /** Generates a continuation of `prompt` (text, or token ids). */
  async generate(prompt: string | readonly number[], options?: GenerateOptions): Promise<GenerateResult> {
    return this.track(lastValue(this.generation(prompt, options)));
  }

  /**
   * The assistant's reply to `messages`, prompted through the chat template (see
   * chatTemplate); the template's own stop strings are added to `options.stop`.
   */
  async chat(messages: readonly ChatMessage[], options?: GenerateOptions): Promise<GenerateResult> {
    return this.track(lastValue(this.chatGeneration(messages, options)));
  }

  /** Registers work that dispose() must let finish. */
  private async track<T>(work: Promise<T>): Promise<T> {
    this.active.add(work);
    try {
      return await work;
    } finally {
      this.active.delete(work);
    }
  }

  /** Streams the continuation piece by piece; `break` or the AbortSignal stops generation. */
  async *stream(prompt: string | readonly number[], options?: GenerateOptions): AsyncGenerator<StreamPiece, GenerateResult> {
    return yield* this.generation(prompt, options);
  }

  /** chat(), streamed piece by piece as stream() does. */
  async *streamChat(messages: readonly ChatMessage[], options?: GenerateOptions): AsyncGenerator<StreamPiece, GenerateResult> {
    return yield* this.chatGeneration(messages, options);
  }

  /**
   * Later calls reject with DISPOSED; `generate`, `chat`, `logits`, `perplexity` and `tokenizeAsync` calls made
   * before finish first. A stream started before keeps its own reference and frees it when it ends.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.active]);
    this.handle.dispose();
    this.tokenizer?.close();
  }

  private async *chatGeneration(messages: readonly ChatMessage[], options?: GenerateOptions): AsyncGenerator<StreamPiece, GenerateResult> {
    this.checkAlive();
    const template = this.chatTemplate;
    return yield* this.generation(() => this.tokenizeChat(messages, { template, signal: options?.signal }), options, template.stop);
  }

  /**
   * `prompt`: the prompt's ids, or text to tokenize. `templateStops`: stop strings of a chat
   * template, ending the reply besides options.stop.
   */
  private async *generation(
    prompt: string | readonly number[] | (() => Promise<number[]>),
    opts: GenerateOptions | undefined,
    templateStops: readonly string[] = [],
  ): AsyncGenerator<StreamPiece, GenerateResult> {
    checkGenerateOptions(opts);
    const options: GenerateOptions = checkOptionsObject(opts);
    const signal = options.signal;
    const idsOf =
      typeof prompt === 'function' ? prompt : typeof prompt === 'string' ? () => this.tokenizeAsync(prompt, { signal }) : async () => this.checkPrompt(prompt);
    // Tracked until submitted: a dispose() meanwhile waits, then the job holds its own sequence.
    const started = await this.track(this.submitGeneration(idsOf, options, templateStops));
    if (!started) return { text: '', tokens: [], finishReason: 'abort', usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 } };
    const { job, ids } = started;
    const onAbort = () => {
      job.abort();
      this.scheduler.cancel(job);
    };
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) onAbort();
    try {
      for (;;) {
        const piece = await job.next();
        if (piece === undefined) break;
        yield piece;
      }
      return {
        text: job.text,
        tokens: [...job.generated],
        finishReason: job.finishReason,
        usage: { promptTokens: ids.length, completionTokens: job.generated.length, totalTokens: ids.length + job.generated.length },
      };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      onAbort();
    }
  }

  /** The job, submitted; undefined when the signal aborted while the prompt was tokenized. */
  private async submitGeneration(idsOf: () => Promise<number[]>, options: GenerateOptions, templateStops: readonly string[]) {
    let ids: number[];
    try {
      ids = await idsOf();
    } catch (err) {
      if (options.signal?.aborted && err instanceof LckvError && err.code === 'ABORTED') return undefined;
      throw err;
    }
    if (ids.length === 0) throw new LckvError('INVALID_ARGUMENT', 'the prompt is empty');
    this.checkContext(ids.length);
    const tokenizer = this.tokenizer;
    const job = new GenerationJob(ids, checkPrefill(options), {
      settings: this.settings(options),
      sampleToken: this.addon.sampleToken,
      maxTokens: options.maxTokens ?? this.defaults.maxTokens,
      stops: [...(options.stop === undefined ? [] : typeof options.stop === 'string' ? [options.stop] : options.stop), ...templateStops],
      eosTokenIds: this.parsed.eosTokenIds,
      maxPositions: Math.min(this.parsed.native.maxPositions, this.scheduler.capacity),
      decode: tokenizer ? (t) => tokenizer.decode(t) : undefined,
    });
    // An aborted signal's job is never submitted; generation() aborts it.
    if (!options.signal?.aborted) this.scheduler.submit(job);
    return { job, ids };
  }

  private settings(o: GenerateOptions): SamplingSettings {
    const d = this.defaults;
    return {
      temperature: o.temperature ?? d.temperature,
      topK: o.topK ?? d.topK,
      topP: o.topP ?? d.topP,
      minP: o.minP ?? d.minP,
      repetitionPenalty: o.repetitionPenalty ?? d.repetitionPenalty,
      seed: o.seed ?? Math.floor(Math.random() * 2 ** 32),
    };
  }

  private checkPrompt(tokens: readonly number[]): number[] {
    this.checkAlive();
    const ids = checkTokens(tokens, this.parsed.native.vocabSize);
    if (ids.length === 0) throw new LckvError('INVALID_ARGUMENT', 'at least one token is required');
    this.checkContext(ids.length);
    return ids;
  }

  private checkContext(n: number): void {
    if (n > this.parsed.native.maxPositions)
      throw new LckvError('CONTEXT_OVERFLOW', `the prompt has ${n} tokens; the context holds ${this.parsed.native.maxPositions}`);
  }

  private checkAlive(): void {
    if (this.disposed) throw new LckvError('DISPOSED', 'the model has been disposed');
  }

  private requireTokenizer(): TextTokenizer {
    if (!this.tokenizer) throw new LckvError('NO_TOKENIZER', 'this checkpoint has no tokenizer.json; pass token ids instead of text');
    return this.tokenizer;
  }
}

/** The value a generator returns, its yields skipped. */
async function lastValue<T>(run: AsyncGenerator<unknown, T>): Promise<T> {
  for (;;) {
    const step = await run.next();
    if (step.done) return step.value;
  }
}

/** The model bundled with the package (models/lckv-sotu). */
export const DEFAULT_MODEL_DIR = path.join(__dirname, '..', 'models', 'lckv-sotu');

async function readConfig(dir: string): Promise<RawConfig> {
  const config = await readJsonObject(path.join(dir, 'config.json'), 'INVALID_CONFIG');
  if (config !== undefined) return config as RawConfig;
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LckvError('FILE_NOT_FOUND', `${dir} does not exist`);
    throw new LckvError('FILE_READ_FAILED', `cannot read ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!stat.isDirectory()) throw new LckvError('FILE_NOT_FOUND', `${dir} is not a directory: a checkpoint is a directory holding config.json`);
  throw new LckvError('FILE_NOT_FOUND', `${dir} has no config.json`);
}

/** Loads a Hugging Face-format Llama or LCKV checkpoint directory (default: the bundled model). */
export async function loadModel(dir: string = DEFAULT_MODEL_DIR, options?: LoadOptions): Promise<Model> {
  if (typeof dir !== 'string') throw new LckvError('INVALID_ARGUMENT', 'dir must be a string');
  options = checkOptionsObject(options);
  const device = checkDevice(options.device);
  const threads = checkNumber('threads', options.threads, 1, 1024, true) ?? defaultThreads();
  if (options.kvCache !== undefined) checkOptionsObject(options.kvCache);
  const kvDtype = options.kvCache?.dtype ?? 'f16';
  if (!(['f16', 'f32', 'bf16'] as unknown[]).includes(kvDtype)) throw new LckvError('INVALID_ARGUMENT', `kvCache.dtype must be 'f16', 'f32' or 'bf16'`);
  const kvBytes = checkNumber('kvCache.bytes', options.kvCache?.bytes, 1, Number.MAX_SAFE_INTEGER, true) ?? 0;
  const kvTokens = checkNumber('kvCache.tokens', options.kvCache?.tokens, 1, 2 ** 31 - 1, true) ?? 0;
  if (kvBytes > 0 && kvTokens > 0) throw new LckvError('INVALID_ARGUMENT', 'give kvCache.bytes or kvCache.tokens, not both');
  const admission = options.kvCache?.admission ?? 'optimistic';
  if (!(ADMISSION_POLICIES as readonly unknown[]).includes(admission))
    throw new LckvError('INVALID_ARGUMENT', `kvCache.admission must be one of ${ADMISSION_POLICIES.join(', ')}`);
  const maxBatch = checkNumber('maxBatch', options.maxBatch, 1, 4096, true) ?? 32;
  const raw = await readConfig(dir);
  const parsed = parseConfig(raw);
  const weights = await readCheckpoint(dir);
  const tokenizer = await loadTokenizer(dir);
  const chatTemplate = await loadChatTemplate(dir).catch((err: unknown) => {
    if (err instanceof LckvError) return err;
    throw err;
  });
  const defaults = await readGenerationDefaults(dir, parsed);
  const chosen = nativeFor(device);
  const addon = chosen.addon;
  let handle: NativeModel;
  try {
    handle = new addon.NativeModel(parsed.native, weights.files, weights.tensors, {
      device: chosen.device,
      threads,
      kvDtype,
      kvBytes,
      kvTokens,
    });
  } catch (err) {
    throw fromNative(err);
  }
  const info = buildInfo(raw, parsed, handle.plan(), {
    parameters: handle.parameterCount(),
    kvDtype,
    hasTokenizer: tokenizer !== undefined,
    isa: addon.isa,
    threads,
    device: chosen.device,
    cudaDevice: chosen.cudaDevice,
  });
  return new Model({ handle, addon, parsed, info, tokenizer, chatTemplate, defaults, maxBatch, admission });
}
