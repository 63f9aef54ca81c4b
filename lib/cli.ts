#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { LckvError } from './errors';
import { loadModel, DEFAULT_MODEL_DIR, type Model } from './model';
import type { GenerateOptions, PrefillMode } from './options';

const USAGE: Record<string, string> = {
  main: `Usage: lckv <command> [options]

Commands:
  generate [--model DIR] [sampling options] "prompt"   continue a prompt (stdin when no prompt)
  info [--model DIR]                                   model shape, layer plan and KV memory

Run 'lckv <command> --help' for the options of a command.
Without --model the bundled model (${DEFAULT_MODEL_DIR}) is used.`,
  generate: `Usage: lckv generate [--model DIR] [options] "prompt"

Streams a continuation of the prompt to stdout. Reads the prompt from stdin when none is given.

Options:
  --model DIR                 checkpoint directory (default: the bundled model)
  --max-tokens N              tokens to generate (default 256)
  --temperature T             0 = greedy (default 0.8)
  --top-k K                   keep the K most likely tokens (default 40, 0 = off)
  --top-p P                   nucleus sampling (default 0.95)
  --min-p P                   drop tokens below P x the most likely (default 0.05)
  --repetition-penalty R      > 1 discourages repeats (default 1)
  --seed N                    same seed, same output
  --stop S                    stop before S (repeatable)
  --prefill auto|iterative|sequential
  --threads N                 compute threads (default: all cores)`,
  info: `Usage: lckv info [--model DIR]

Prints the model's shape, the layer plan (which layer reads which layer's KV, which
layers are cached) and its KV bytes per token next to a standard transformer's.`,
};

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

class UsageError extends Error {}

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} needs a number, got '${value}'`);
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function open(model: string | undefined, threads: string | undefined): Promise<Model> {
  return loadModel(model ?? DEFAULT_MODEL_DIR, { threads: number('--threads', threads) });
}

async function generate(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      prefill: { type: 'string' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE.generate);
  const prompt = positionals.length > 0 ? positionals.join(' ') : await readStdin();
  if (prompt.length === 0) throw new UsageError('no prompt given (as an argument or on stdin)');
  const options: GenerateOptions = {
    maxTokens: number('--max-tokens', values['max-tokens']),
    temperature: number('--temperature', values.temperature),
    topK: number('--top-k', values['top-k']),
    topP: number('--top-p', values['top-p']),
    minP: number('--min-p', values['min-p']),
    repetitionPenalty: number('--repetition-penalty', values['repetition-penalty']),
    seed: number('--seed', values.seed),
    stop: values.stop,
    prefill: values.prefill as PrefillMode | undefined,
  };
  const model = await open(values.model, values.threads);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const ids = model.tokenize(prompt);
    process.stdout.write(prompt);
    for await (const piece of model.stream(ids, { ...options, signal: abort.signal })) process.stdout.write(piece.text);
    process.stdout.write('\n');
  } finally {
    process.off('SIGINT', onSigint);
    await model.dispose();
  }
}

async function info(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { model: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void console.log(USAGE.info);
  const model = await open(values.model, undefined);
  try {
    const i = model.info;
    const c = i.config as Record<string, unknown>;
    console.log(`model type        ${i.modelType}`);
    console.log(`parameters        ${(i.parameters / 1e6).toFixed(2)} M`);
    console.log(`shape             ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.num_attention_heads} heads, ` +
      `${c.num_key_value_heads ?? c.num_attention_heads} KV heads, ffn ${c.intermediate_size}, vocab ${i.vocabSize}`);
    console.log(`context           ${i.contextLength} tokens`);
    console.log(`compute           ${i.isa}, ${i.threads} threads`);
    console.log('layer plan        (layer <- the layer whose KV it reads)');
    for (const l of [...i.layerPlan].reverse()) {
      const notes = [l.cached ? 'cached' : '', l.attendsTop ? 'attends up, diagonal masked' : '', l.sliding ? `sliding ${i.slidingWindow}` : '']
        .filter(Boolean)
        .join(', ');
      console.log(`  layer ${String(l.layer).padStart(2)} <- KV of layer ${String(l.attendsTo).padStart(2)}${notes ? `   [${notes}]` : ''}`);
    }
    const steps = i.prefillPlan.map((s) => `${s.cyclic ? 'iterate' : 'run'} ${s.begin}..${s.end - 1}`).join(', then ');
    console.log(`prefill           ${steps}`);
    console.log(`KV cache          ${i.cachedLayers.length} of ${i.layerPlan.length} layers cached: ${i.kvBytesPerToken} bytes/token ` +
      `(${i.kvDtype}) vs ${i.kvBytesPerTokenStandard} for a standard transformer (${(i.kvBytesPerTokenStandard / i.kvBytesPerToken).toFixed(2)}x less)`);
  } finally {
    await model.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const commands: Record<string, (args: string[]) => Promise<void>> = { generate, info };
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE.main);
    return command === undefined ? EXIT_USAGE : 0;
  }
  const run = commands[command];
  if (!run) {
    console.error(`lckv: unknown command '${command}'\n\n${USAGE.main}`);
    return EXIT_USAGE;
  }
  try {
    await run(rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`lckv ${command}: ${(err as Error).message}\n\n${USAGE[command]}`);
      return EXIT_USAGE;
    }
    if (err instanceof LckvError) {
      console.error(`lckv ${command}: ${err.message} [${err.code}]`);
      return err.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = EXIT_FAILURE;
  },
);
