import {
  MODEL_FLAGS,
  MODEL_USAGE,
  SAMPLING_FLAGS,
  SAMPLING_USAGE,
  UsageError,
  modelArgs,
  openModel,
  out,
  parse,
  readStdin,
  samplingArgs,
  watchStdout,
  type Command,
} from './common';

export const generate: Command = {
  name: 'generate',
  synopsis: 'generate [--model DIR] [options] "prompt"',
  summary: 'continue a prompt (stdin when no prompt)',
  usage: `Usage: lckv generate [--model DIR] [options] "prompt"

Streams the prompt and its continuation to stdout. Reads the prompt from stdin when none
is given, or when it is "-". Ctrl-C stops generation (what was generated so far stays printed).

Options:
${MODEL_USAGE}
${SAMPLING_USAGE}
  --no-echo                   print only the continuation, not the prompt
  --json                      print one JSON object { text, tokens, finishReason, usage } at the end
  -h, --help                  this help

Examples:
  lckv generate --temperature 0 --max-tokens 40 "The Congress has"
  echo "It was a cold morning" | lckv generate --seed 7`,

  async run(args) {
    const { values, positionals } = parse(args, {
      ...MODEL_FLAGS,
      ...SAMPLING_FLAGS,
      'no-echo': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const options = samplingArgs(values);
    const load = modelArgs(values);
    const fromStdin = positionals.length === 0 ? !process.stdin.isTTY : positionals.length === 1 && positionals[0] === '-';
    const prompt = fromStdin ? await readStdin() : positionals.join(' ');
    if (prompt.length === 0) throw new UsageError('no prompt given (as an argument or on stdin)');

    const model = await openModel(load);
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    const unwatch = watchStdout(() => abort.abort());
    try {
      if (values.json) {
        const r = await model.generate(prompt, { ...options, signal: abort.signal });
        out(JSON.stringify({ text: r.text, tokens: r.tokens, finishReason: r.finishReason, usage: r.usage }) + '\n');
        return;
      }
      // The first piece comes after the prompt was checked (and prefilled): a prompt that
      // cannot run is not echoed before its error.
      const pieces = model.stream(prompt, { ...options, signal: abort.signal });
      let step = await pieces.next();
      if (!values['no-echo']) out(prompt);
      for (; !step.done; step = await pieces.next()) out(step.value.text);
      out('\n');
    } finally {
      process.off('SIGINT', onSigint);
      unwatch();
      await model.dispose();
    }
  },
};
