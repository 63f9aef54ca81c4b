import type { NativeAddon } from './native';

/** Resolved sampling settings of one request (see GenerateOptions for the meaning). */
export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  seed: number;
}

/**
 * One request's sampling: its settings, its seeded PRNG state and the distinct tokens the
 * repetition penalty applies to (prompt and output), kept in typed arrays that the native
 * sampler (native/engine/sampler.h) reads in place. The rule: repetition penalty (as Hugging
 * Face applies it), then greedy if temperature is 0, else temperature, top-k, top-p, min-p
 * and one draw from the renormalized weights.
 */
export class RequestSampler {
  private readonly settings: Float64Array;
  private readonly rng: Uint32Array;
  private seen: Int32Array;
  private count = 0;
  private readonly members = new Set<number>();
  /** Whether the penalty applies, so that seen ids are worth keeping. */
  private readonly penalized: boolean;

  constructor(
    private readonly sampleToken: NativeAddon['sampleToken'],
    s: SamplingSettings,
    prompt: readonly number[],
  ) {
    this.settings = Float64Array.of(s.temperature, s.topK, s.topP, s.minP, s.repetitionPenalty);
    this.rng = Uint32Array.of(s.seed >>> 0);
    this.penalized = s.repetitionPenalty !== 1;
    this.seen = new Int32Array(this.penalized ? Math.max(16, prompt.length * 2) : 0);
    for (const token of prompt) this.see(token);
  }

  /** Draws the next token from its logits ([vocab]) and counts it as seen. */
  next(logits: Float32Array): number {
    const token = this.sampleToken(logits, this.settings, this.seen.subarray(0, this.count), this.rng);
    this.see(token);
    return token;
  }

  private see(token: number): void {
    if (!this.penalized || this.members.has(token)) return;
    this.members.add(token);
    if (this.count === this.seen.length) {
      const grown = new Int32Array(this.seen.length * 2);
      grown.set(this.seen);
      this.seen = grown;
    }
    this.seen[this.count++] = token;
  }
}
