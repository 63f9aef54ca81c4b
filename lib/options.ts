import { LckvError } from './errors';

/** How a prompt is prefilled (ARCHITECTURE §4). */
export type PrefillMode = 'auto' | 'iterative' | 'sequential';

/** Options of a forward pass over a prompt. */
export interface PrefillOptions {
  /**
   * 'auto' (default) follows the reference implementation: token by token when the config
   * sets use_sequential or the prompt is no longer than forward_passes + backward_passes,
   * else the paper's iterative parallel prefill. 'sequential' is exact; 'iterative' is fast.
   */
  prefill?: PrefillMode;
  /** Passes of the iterative prefill over each cyclic layer group; default forward_passes + backward_passes. */
  passes?: number;
}

/** Options of `generate` and `stream`. */
export interface GenerateOptions extends PrefillOptions {
  /** Most tokens to generate (default: generation_config.json max_new_tokens, else 256). Also stops at the context length. */
  maxTokens?: number;
  /** 0 = greedy. Default: generation_config.json's, else 0.8. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = off (each token then ranks the whole vocabulary: ~25x the work). Default: generation_config.json's, else 40. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set whose probability reaches topP; 1 = off. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one; 0 = off. Default 0.05. */
  minP?: number;
  /** > 1 discourages tokens already in the prompt or output (Hugging Face's rule). Default 1. */
  repetitionPenalty?: number;
  /** Same seed and options give the same tokens. Default: random. */
  seed?: number;
  /** Stop before any of these strings; they are not included in the text. */
  stop?: string | readonly string[];
  /** Aborting stops generation; the result so far is returned with finishReason 'abort'. */
  signal?: AbortSignal;
}

function fail(message: string): never {
  throw new LckvError('INVALID_ARGUMENT', message);
}

/** A short description of any value for an error message (never throws). */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v == null) return String(v);
  return Array.isArray(v) ? 'an array' : `a value of type ${typeof v}`;
}

export interface NumberRange {
  min: number;
  max: number;
  integer: boolean;
}

/** Why `v` is not a number in `r` (a message naming `name`), or undefined when it is. */
export function outOfRange(name: string, v: unknown, r: NumberRange): string | undefined {
  if (typeof v === 'number' && !Number.isNaN(v) && v >= r.min && v <= r.max && (!r.integer || Number.isInteger(v))) return undefined;
  return `${name} must be ${r.integer ? 'an integer' : 'a number'} in [${r.min}, ${r.max}], got ${describe(v)}`;
}

export function checkNumber(name: string, v: unknown, min: number, max: number, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const why = outOfRange(name, v, { min, max, integer });
  if (why) fail(why);
  return v as number;
}

const PREFILL_MODES: readonly PrefillMode[] = ['auto', 'iterative', 'sequential'];

/** Where a model runs: 'auto' is CUDA when the CUDA addon loads and sees a device, else the CPU. */
export type DeviceOption = 'auto' | 'cpu' | 'cuda';

const DEVICES: readonly DeviceOption[] = ['auto', 'cpu', 'cuda'];

/** The device option (default 'auto'). */
export function checkDevice(v: unknown): DeviceOption {
  if (v === undefined) return 'auto';
  if (!DEVICES.includes(v as DeviceOption)) fail(`device must be 'auto', 'cpu' or 'cuda', got ${describe(v)}`);
  return v as DeviceOption;
}

/** Options must be a plain object or undefined. */
export function checkOptionsObject<T extends object>(o: T | undefined): T | Record<string, never> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('options must be an object');
  return o;
}

/** The native prefill mode (its index in PREFILL_MODES) and passes (0 = the config's). */
export function checkPrefill(opts: PrefillOptions | undefined): { mode: number; passes: number } {
  const o: PrefillOptions = checkOptionsObject(opts);
  const mode = PREFILL_MODES.indexOf(o.prefill ?? 'auto');
  if (mode < 0) fail(`prefill must be 'auto', 'iterative' or 'sequential', got ${describe(o.prefill)}`);
  const passes = checkNumber('passes', o.passes, 1, 1_000_000, true) ?? 0;
  return { mode, passes };
}

/** The range of each numeric sampling setting, as an option and in generation_config.json. */
export const SAMPLING_RANGES = {
  maxTokens: { min: 0, max: 1e9, integer: true },
  temperature: { min: 0, max: 100, integer: false },
  topK: { min: 0, max: 1e9, integer: true },
  topP: { min: 0, max: 1, integer: false },
  minP: { min: 0, max: 1, integer: false },
  repetitionPenalty: { min: Number.MIN_VALUE, max: 100, integer: false },
} as const;

export type SamplingSetting = keyof typeof SAMPLING_RANGES;

export function checkGenerateOptions(o: GenerateOptions | undefined): void {
  const opts: GenerateOptions = checkOptionsObject(o);
  checkPrefill(opts);
  for (const [name, r] of Object.entries(SAMPLING_RANGES)) checkNumber(name, opts[name as SamplingSetting], r.min, r.max, r.integer);
  checkNumber('seed', opts.seed, 0, 2 ** 32 - 1, true);
  const stops = opts.stop === undefined ? [] : typeof opts.stop === 'string' ? [opts.stop] : opts.stop;
  if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string' && s.length > 0))
    fail('stop must be a non-empty string or an array of them');
  checkSignal(opts.signal);
}

/** An optional `signal` option: undefined or an AbortSignal. */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail('signal must be an AbortSignal');
  return signal as AbortSignal | undefined;
}

export function checkTokens(tokens: unknown, vocabSize: number): number[] {
  if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) fail('tokens must be an array of token ids');
  const list = Array.from(tokens as ArrayLike<number>);
  for (const t of list) {
    if (typeof t !== 'number' || !Number.isInteger(t)) fail(`token ids must be integers, got ${describe(t)}`);
    if (t < 0 || t >= vocabSize) throw new LckvError('TOKEN_OUT_OF_RANGE', `token id ${t} is outside [0, ${vocabSize})`);
  }
  return list;
}
