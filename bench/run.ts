// npm run bench [-- model|engine|kernels] : prints a benchmark table (see docs/benchmarks.md).
import * as os from 'node:os';
import { formatModelTable, runModelBench } from '../lib/bench';
import { formatEngineTable, runEngineBench } from '../lib/bench/engine';
import { runKernelBench } from '../lib/bench/kernels';
import { formatKernelTable } from '../lib/bench/kernels-table';

const suites: Record<string, () => Promise<string>> = {
  model: async () => formatModelTable(runModelBench({ log })),
  engine: async () => formatEngineTable(await runEngineBench({ log })),
  kernels: async () => formatKernelTable(await runKernelBench({ log })),
};

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
