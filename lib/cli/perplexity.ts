import { promises as fs } from 'node:fs';
import type { PrefillMode } from '../options';
import {
  CliFailure,
  MODEL_FLAGS,
  MODEL_USAGE,
  UsageError,
  choiceFlag,
  modelArgs,
  numberFlag,
  openModel,
  out,
  parse,
  readStdin,
  type Command,
} from './common';
import { spinner } from './progress';

export const perplexity: Command = {
  name: 'perplexity',
  synopsis: 'perplexity [--model DIR] [--context N] FILE',
  summary: 'perplexity of a text file (- = stdin)',
  usage: `Usage: lckv perplexity [--model DIR] [--context N] [--prefill MODE] FILE

Scores a UTF-8 text file (- reads stdin): exp of the mean negative log-likelihood of each
next token, in independent windows of --context tokens. Prints the perplexity, the
token count and the time taken.

Options:
${MODEL_USAGE}
  --context N                 tokens per window (default: the model's context length)
  --prefill auto|iterative|sequential
                              how each window is processed (default auto)
  --passes N                  passes of the iterative prefill (default m+b of the config)
  --json                      print { perplexity, tokens, windows, context, seconds } as JSON
  -h, --help                  this help

Example:
  lckv perplexity --context 128 models/lckv-sotu/heldout.txt`,

  async run(args) {
    const { values, positionals } = parse(args, {
      ...MODEL_FLAGS,
      context: { type: 'string' },
      prefill: { type: 'string' },
      passes: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length === 0) throw new UsageError('no FILE given (use - for stdin)');
    if (positionals.length > 1) throw new UsageError(`one FILE only, got ${positionals.length}`);
    const contextFlag = numberFlag('--context', values.context, 2, 1e9, true);
    const prefill = choiceFlag<PrefillMode>('--prefill', values.prefill, ['auto', 'iterative', 'sequential']);
    const passes = numberFlag('--passes', values.passes, 1, 1_000_000, true);
    const load = modelArgs(values);
    const file = positionals[0];
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new CliFailure(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }

    const model = await openModel(load);
    try {
      const context = contextFlag ?? model.info.contextLength;
      if (context > model.info.contextLength)
        throw new UsageError(`--context ${context} is longer than the model's context (${model.info.contextLength})`);
      const ids = await model.tokenizeAsync(text);
      if (ids.length < 2) throw new CliFailure(`${file} has ${ids.length} token(s); perplexity needs at least two`);
      const windows = Math.ceil((ids.length - 1) / context);
      const spin = spinner(`scoring ${ids.length} tokens`);
      const t0 = process.hrtime.bigint();
      let ppl: number;
      try {
        ppl = await model.perplexity(ids, { context, prefill, passes });
      } finally {
        spin.stop();
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (values.json) out(JSON.stringify({ perplexity: ppl, tokens: ids.length, context, windows, seconds }) + '\n');
      else
        out(
          `perplexity  ${ppl.toFixed(4)}\n` +
            `tokens      ${ids.length} (${windows} window${windows === 1 ? '' : 's'} of up to ${context})\n` +
            `time        ${seconds.toFixed(2)} s (${(ids.length / seconds).toFixed(0)} tokens/s)\n`,
        );
    } finally {
      await model.dispose();
    }
  },
};
