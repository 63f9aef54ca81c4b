import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { loadModel, DEFAULT_MODEL_DIR, type Model, type LoadOptions } from '../model';
import type { GenerateOptions, PrefillMode } from '../options';
import { ADMISSION_POLICIES } from '../engine/scheduler';
import { spinner } from './progress';

/** Exit codes scripts can trust. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line: exit code 2 and the command's usage. */
export class UsageError extends Error {}

/** A failure worth a one-line message and exit code 1 (no stack). */
export class CliFailure extends Error {}

/** One `lckv <name>` command. */
export interface Command {
  name: string;
  /** How it is called and what it does: one line of `lckv --help`, in two aligned columns. */
  synopsis: string;
  summary: string;
  /** Full text for `lckv <name> --help`. */
  usage: string;
  /** Runs the command; resolves to the exit code (default 0). */
  run(args: string[]): Promise<number | void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** True when the arguments ask for help (before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** node:util parseArgs, with its errors turned into UsageErrors. */
export function parse<O extends Options>(
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    // Node's message may run to several lines of advice; its first says what is wrong.
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message.split('\n', 1)[0]);
    throw err;
  }
}

/** A decimal number as people write them: no hex, no padding (Number() takes both). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number flag within [min, max] (integer when asked); undefined when the flag is absent. */
export function numberFlag(flag: string, value: string | undefined, min: number, max: number, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!DECIMAL.test(value) || !Number.isFinite(n)) throw new UsageError(`${flag} needs a number, got '${value}'`);
  if (integer && !Number.isInteger(n)) throw new UsageError(`${flag} needs an integer, got '${value}'`);
  if (n < min || n > max) {
    const low = min === Number.MIN_VALUE ? 'above 0' : `at least ${min}`;
    throw new UsageError(`${flag} must be ${low} and at most ${max}, got ${value}`);
  }
  return n;
}

/** A byte count: a plain integer or one with a k/m/g suffix (powers of 1024). */
export function bytesFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*([kmg]?)i?b?\s*$/i.exec(value);
  if (!m) throw new UsageError(`${flag} needs a byte count such as 1048576 or 1m, got '${value}'`);
  const n = Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be at least 1 byte, got '${value}'`);
  return n;
}

export function choiceFlag<T extends string>(flag: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as T;
}

// ---- the model flags every model command takes ----

export const MODEL_FLAGS = {
  model: { type: 'string' },
  threads: { type: 'string' },
  'kv-dtype': { type: 'string' },
  'kv-admission': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const MODEL_USAGE = `  --model DIR                 checkpoint directory (default: the bundled model)
  --threads N                 compute threads (default: all cores)
  --kv-dtype f16|f32|bf16     storage type of the KV cache (default f16)
  --kv-admission optimistic|reserve
                              start requests when their prompt fits (default) or only
                              when all could finish without preemption`;

export interface ModelArgs {
  dir: string;
  load: LoadOptions;
}

export function modelArgs(values: { model?: string; threads?: string; 'kv-dtype'?: string; 'kv-admission'?: string }): ModelArgs {
  if (values.model !== undefined && values.model.trim() === '') throw new UsageError('--model needs a directory');
  const threads = numberFlag('--threads', values.threads, 1, 1024, true);
  const dtype = choiceFlag('--kv-dtype', values['kv-dtype'], ['f16', 'f32', 'bf16'] as const);
  const admission = choiceFlag('--kv-admission', values['kv-admission'], ADMISSION_POLICIES);
  const load: LoadOptions = {};
  if (threads !== undefined) load.threads = threads;
  if (dtype !== undefined || admission !== undefined) load.kvCache = { dtype, admission };
  return { dir: path.resolve(values.model ?? DEFAULT_MODEL_DIR), load };
}

/** Loads the model, with a spinner on stderr when stderr is a terminal. */
export async function openModel(args: ModelArgs): Promise<Model> {
  const spin = spinner(`loading ${path.basename(args.dir)}`);
  try {
    return await loadModel(args.dir, args.load);
  } finally {
    spin.stop();
  }
}

// ---- sampling flags (generate, chat) ----

export const SAMPLING_FLAGS = {
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  prefill: { type: 'string' },
  passes: { type: 'string' },
} as const;

export const SAMPLING_USAGE = `  Defaults come from the checkpoint's generation_config.json, else the figure shown.
  --max-tokens N              tokens to generate (max_new_tokens, else 256)
  --temperature T             0 = greedy (temperature, 0 when do_sample is false, else 0.8)
  --top-k K                   keep the K most likely tokens (top_k, else 40; 0 = off)
  --top-p P                   nucleus sampling, 0..1 (top_p, else 0.95; 1 = off)
  --min-p P                   drop tokens below P x the most likely, 0..1 (min_p, else 0.05)
  --repetition-penalty R      > 1 discourages repeats (repetition_penalty, else 1)
  --seed N                    0..4294967295; same seed and options, same output
  --stop S                    stop before S (repeatable)
  --prefill auto|iterative|sequential
                              how the prompt is prefilled (default auto)
  --passes N                  passes of the iterative prefill (default m+b of the config)`;

type SamplingValues = { [K in keyof typeof SAMPLING_FLAGS]?: K extends 'stop' ? string[] : string };

export function samplingArgs(v: SamplingValues): GenerateOptions {
  const o: GenerateOptions = {
    maxTokens: numberFlag('--max-tokens', v['max-tokens'], 0, 1e9, true),
    temperature: numberFlag('--temperature', v.temperature, 0, 100),
    topK: numberFlag('--top-k', v['top-k'], 0, 1e9, true),
    topP: numberFlag('--top-p', v['top-p'], 0, 1),
    minP: numberFlag('--min-p', v['min-p'], 0, 1),
    repetitionPenalty: numberFlag('--repetition-penalty', v['repetition-penalty'], Number.MIN_VALUE, 100),
    seed: numberFlag('--seed', v.seed, 0, 2 ** 32 - 1, true),
    prefill: choiceFlag<PrefillMode>('--prefill', v.prefill, ['auto', 'iterative', 'sequential']),
    passes: numberFlag('--passes', v.passes, 1, 1_000_000, true),
  };
  if (v.stop !== undefined) {
    if (v.stop.some((s) => s.length === 0)) throw new UsageError('--stop needs a non-empty string');
    o.stop = v.stop;
  }
  for (const k of Object.keys(o) as (keyof GenerateOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Most bytes read from stdin at once or in one line: piped input may never end (/dev/zero). */
export const STDIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** All of stdin as text; more than STDIN_LIMIT_BYTES is a CliFailure. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > STDIN_LIMIT_BYTES) throw new CliFailure(`stdin holds more than ${STDIN_LIMIT_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** stdin for reading line by line: the stream fails with a CliFailure once a line runs past STDIN_LIMIT_BYTES. */
export function lineLimitedStdin(): Readable {
  let run = 0;  // bytes since the last newline
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let start = 0; start < chunk.length; ) {
        const nl = chunk.indexOf(10, start);
        run += (nl < 0 ? chunk.length : nl) - start;
        if (run > STDIN_LIMIT_BYTES) return done(new CliFailure(`an input line is longer than ${STDIN_LIMIT_BYTES} bytes`));
        if (nl < 0) break;
        run = 0;
        start = nl + 1;
      }
      done(null, chunk);
    },
  });
  process.stdin.on('error', (err) => limited.destroy(err));
  return process.stdin.pipe(limited);
}

let stdoutClosed = false;
let onStdoutClosed: (() => void) | undefined;
let stdoutGuarded = false;

/**
 * Handles stdout's write errors, once for the life of the process (a write under way when
 * the reader left fails after the command has finished): a reader gone (EPIPE, `lckv ... |
 * head`) ends the output quietly; any other failure (a full disk) ends the process with one
 * line on stderr instead of a stack trace.
 */
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') {
      process.stderr.write(`lckv: cannot write the output: ${err.message}\n`);
      process.exit(EXIT_FAILURE);
    }
    stdoutClosed = true;
    onStdoutClosed?.();
  });
}

/** Calls `onClosed` when stdout's reader goes away. Returns a function that stops calling it. */
export function watchStdout(onClosed: () => void): () => void {
  guardStdout();
  onStdoutClosed = onClosed;
  return () => {
    if (onStdoutClosed === onClosed) onStdoutClosed = undefined;
  };
}

/** Writes to stdout unless the pipe is gone. */
export function out(text: string): void {
  guardStdout();
  if (!stdoutClosed && !process.stdout.destroyed && !process.stdout.writableEnded) process.stdout.write(text);
}
