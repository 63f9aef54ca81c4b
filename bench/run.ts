// npm run bench [-- model|engine|kernels] : prints a benchmark table (see docs/benchmarks.md).
// npm run bench -- engine --admission reserve : the engine table under kvCache.admission 'reserve'.
// npm run bench -- engine --standard-sequences 2 --requests 64 --prompt-tokens 64 --generate-tokens 512 :
//   the KV budget holds that many standard sequences (default 8), and the request mix.
import * as os from 'node:os';
import { formatModelTable, runModelBench } from '../lib/bench';
import type { AdmissionPolicy } from '../lib/engine/scheduler';
import { formatEngineTable, runEngineBench } from '../lib/bench/engine';
import { runKernelBench } from '../lib/bench/kernels';
import { formatKernelTable } from '../lib/bench/kernels-table';

const suites: Record<string, () => Promise<string>> = {
  model: async () => formatModelTable(runModelBench({ log })),
  engine: async () =>
    formatEngineTable(
      await runEngineBench({
        log,
        admission: admissionArg(),
        standardSequences: countArg('--standard-sequences'),
        requests: countArg('--requests'),
        promptTokens: countArg('--prompt-tokens'),
        generateTokens: countArg('--generate-tokens'),
      }),
    ),
  kernels: async () => formatKernelTable(await runKernelBench({ log })),
};

function admissionArg(): AdmissionPolicy | undefined {
  const at = process.argv.indexOf('--admission');
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value !== 'optimistic' && value !== 'reserve') {
    console.error(`--admission takes 'optimistic' or 'reserve', not '${value}'`);
    process.exit(2);
  }
  return value;
}

function countArg(flag: string): number | undefined {
  const at = process.argv.indexOf(flag);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${flag} takes a positive integer, not '${process.argv[at + 1]}'`);
    process.exit(2);
  }
  return value;
}

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
