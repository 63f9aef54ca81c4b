// npm run bench [-- model] : prints the benchmark tables (see docs/benchmarks.md).
import * as os from 'node:os';
import { formatModelTable, runModelBench } from '../lib/bench';

const suite = process.argv[2] ?? 'model';
if (suite !== 'model') {
  console.error(`unknown benchmark suite '${suite}' (available: model)`);
  process.exit(2);
}
console.log(`# lckv model benchmark — ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads, node ${process.version}`);
const rows = runModelBench({ log: (l) => console.error(l) });
console.log(formatModelTable(rows));
