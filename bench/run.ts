// npm run bench [-- model|engine|kernels|sampling] : prints a benchmark table (see docs/benchmarks.md).
// npm run bench -- engine --admission reserve : the engine table under kvCache.admission 'reserve'.
// npm run bench -- engine --standard-sequences 2 --requests 64 --prompt-tokens 64 --generate-tokens 512 :
//   the KV budget holds that many standard sequences (default 8), and the request mix.
import * as os from 'node:os';
import { formatModelTable, runModelBench } from '../lib/bench';
import { ADMISSION_POLICIES } from '../lib/engine/scheduler';
import { choiceFlag, numberFlag, UsageError } from '../lib/cli/common';
import { formatEngineTable, runEngineBench } from '../lib/bench/engine';
import { runKernelBench } from '../lib/bench/kernels';
import { formatKernelTable } from '../lib/bench/kernels-table';
import { formatSamplingTable, runSamplingBench } from '../lib/bench/sampling';

const suites: Record<string, () => Promise<string>> = {
  model: async () => formatModelTable(runModelBench({ log })),
  engine: async () =>
    formatEngineTable(
      await runEngineBench({
        log,
        admission: flagArg('--admission', (f, v) => choiceFlag(f, v, ADMISSION_POLICIES)),
        standardSequences: countArg('--standard-sequences'),
        requests: countArg('--requests'),
        promptTokens: countArg('--prompt-tokens'),
        generateTokens: countArg('--generate-tokens'),
      }),
    ),
  kernels: async () => formatKernelTable(await runKernelBench({ log })),
  sampling: async () => formatSamplingTable(await runSamplingBench({ log })),
};

/** A flag's value checked as the CLI checks it; a bad one ends the run with the reason. */
function flagArg<T>(flag: string, check: (flag: string, value: string | undefined) => T): T {
  const at = process.argv.indexOf(flag);
  try {
    return check(flag, at < 0 ? undefined : process.argv[at + 1] ?? '');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

const countArg = (flag: string) => flagArg(flag, (f, v) => numberFlag(f, v, 1, 1e6, true));

function log(line: string): void {
  console.error(line);
}

const suite = process.argv[2] ?? 'model';
const run = suites[suite];
if (!run) {
  console.error(`unknown benchmark suite '${suite}' (available: ${Object.keys(suites).join(', ')})`);
  process.exit(2);
}
console.log(`# lckv ${suite} benchmark — ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads, node ${process.version}`);
run().then((table) => console.log(table));
