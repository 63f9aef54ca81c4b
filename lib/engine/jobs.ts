// What the scheduler runs for each API call: a generation (sampling, stops, streaming
// pieces) or a scoring pass (logits of every prompt position).
import type { LckvError } from '../errors';
import { RequestSampler, type SamplingSettings } from '../sampling';
import type { NativeAddon } from '../native';
import { StopStringFilter } from '../stop-strings';
import { IncrementalDecoder } from '../tokenizer';
import type { Job, PrefillSpec } from './scheduler';

/** Why generation ended: an eos token or stop string, maxTokens, the context or KV cache, or the AbortSignal. */
export type FinishReason = 'stop' | 'length' | 'abort';

/** One streamed step: the token generated and the text it completed (may be empty). */
export interface StreamPiece {
  text: string;
  token: number;
}

export interface GenerationSpec {
  settings: SamplingSettings;
  /** The model's addon's sampler. */
  sampleToken: NativeAddon['sampleToken'];
  maxTokens: number;
  stops: string[];
  eosTokenIds: readonly number[];
  /** Most positions the sequence may hold: the context length, or the whole KV pool if smaller. */
  maxPositions: number;
  decode?: (ids: number[]) => string;
}

/**
 * A generation: each accepted row of logits yields one sampled token and the text it
 * completes. Pieces queue up until the consumer takes them, so a slow or abandoned
 * consumer never holds up the batch.
 */
export class GenerationJob implements Job {
  readonly scoring = false;
  readonly generated: number[] = [];
  finishReason: FinishReason = 'length';
  private readonly filter: StopStringFilter;
  private readonly decoder?: IncrementalDecoder;
  private readonly sampler: RequestSampler;
  private readonly pieces: StreamPiece[] = [];
  private done = false;
  private error?: LckvError;
  private wake?: () => void;

  constructor(
    readonly prompt: readonly number[],
    readonly prefill: PrefillSpec,
    private readonly spec: GenerationSpec,
  ) {
    this.filter = new StopStringFilter(spec.stops);
    // The prompt's last ids as context keep what a decoder drops at the start of a text.
    this.decoder = spec.decode ? new IncrementalDecoder(spec.decode, prompt.slice(-4)) : undefined;
    this.sampler = new RequestSampler(spec.sampleToken, spec.settings, prompt);
  }

  get positionsBound(): number {
    return Math.min(this.prompt.length + this.spec.maxTokens, this.spec.maxPositions);
  }

  accept(logits: Float32Array): boolean {
    const { spec, generated } = this;
    if (spec.maxTokens === 0) {
      this.done = true;  // the prompt was still run (and checked)
      this.notify();
      return false;
    }
    const token = this.sampler.next(logits);
    generated.push(token);
    const isEos = spec.eosTokenIds.includes(token);
    let text = this.filter.push(this.decoder ? this.decoder.push(token) : '');
    // Feeding this token back would take position prompt + generated - 1.
    const last =
      isEos || this.filter.stopped || generated.length >= spec.maxTokens || this.prompt.length + generated.length > spec.maxPositions;
    if (last) text += this.filter.flush();
    this.pieces.push({ text, token });
    if (isEos || this.filter.stopped) this.finishReason = 'stop';
    if (last) this.done = true;
    this.notify();
    return !last;
  }

  fail(err: LckvError): void {
    this.error = err;
    this.done = true;
    this.notify();
  }

  /** Ends the generation now (AbortSignal, or the consumer stopped); queued pieces remain readable. */
  abort(): void {
    if (this.done) return;
    this.finishReason = 'abort';
    this.done = true;
    this.notify();
  }

  /** The next piece, or undefined when generation has ended. */
  async next(): Promise<StreamPiece | undefined> {
    while (this.pieces.length === 0 && !this.done) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.pieces.length > 0) return this.pieces.shift();
    if (this.error) throw this.error;
    return undefined;
  }

  get text(): string {
    return this.filter.value;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** One prefill, no decode: resolves with what the scoring run returns. */
class ScoringJob<R extends Float32Array | Float64Array> implements Job {
  readonly scoring = true;
  readonly generated: number[] = [];
  readonly result: Promise<R>;
  private resolve!: (out: R) => void;
  private reject!: (err: LckvError) => void;

  constructor(
    readonly prompt: readonly number[],
    readonly prefill: PrefillSpec,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  get positionsBound(): number {
    return this.prompt.length;
  }

  accept(out: Float32Array | Float64Array): boolean {
    this.resolve(out as R);
    return false;
  }

  fail(err: LckvError): void {
    this.reject(err);
  }
}

/** The logits of every prompt position ([prompt, vocab]). */
export class ScoreJob extends ScoringJob<Float32Array> {}

/** Each prompt position's negative log-likelihood of its next token ([prompt]; NaN at the last). */
export class LikelihoodJob extends ScoringJob<Float64Array> {
  readonly targets: Int32Array;

  constructor(prompt: readonly number[], prefill: PrefillSpec) {
    super(prompt, prefill);
    this.targets = Int32Array.from(prompt, (_, i) => (i + 1 < prompt.length ? prompt[i + 1] : -1));
  }
}
