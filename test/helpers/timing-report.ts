// Root hooks (loaded by .mocharc.json): after the whole run, prints the slowest tests, the
// time per file and the machine they ran on. CI shows only the end of its log, so this is
// where a run that is slow on some machine says where its time went.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from 'mocha';
import { native } from '../../lib/native';

// Each test's share is the wall time since the previous test ended: its suite's before
// hooks (model loads) count too, which a test's own duration leaves out.
const durations: { title: string; file: string; ms: number }[] = [];
let lastEnd = performance.now();

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const flags = readOr('/proc/cpuinfo', '').match(/^flags\s*:(.*)$/m)?.[1].split(' ') ?? [];
  const wide = ['avx512f', 'avx512_bf16', 'amx_tile'].filter((f) => flags.includes(f)).join(' ') || 'no avx512';
  const thp = readOr('/sys/kernel/mm/transparent_hugepage/enabled', 'n/a');
  const quota = readOr('/sys/fs/cgroup/cpu.max', 'n/a');
  const free = (os.freemem() / 2 ** 30).toFixed(1);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${cpu} (${wide}); availableParallelism ${os.availableParallelism()}; cgroup cpu.max ${quota}; isa ${native().isa}; THP ${thp}; free ${free} GiB; load ${load}`;
}

export const mochaHooks = {
  beforeAll(): void {
    lastEnd = performance.now();
  },
  afterEach(this: Context): void {
    const now = performance.now();
    const test = this.currentTest;
    if (test) durations.push({ title: test.fullTitle(), file: path.basename(test.file ?? '?'), ms: now - lastEnd });
    lastEnd = now;
  },
  afterAll(): void {
    const perFile = new Map<string, number>();
    for (const d of durations) perFile.set(d.file, (perFile.get(d.file) ?? 0) + d.ms);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const files = [...perFile].sort((a, b) => b[1] - a[1]).map(([f, ms]) => `${f} ${seconds(ms)}`);
    const slowest = [...durations].sort((a, b) => b.ms - a.ms).slice(0, 8);
    console.log(`\n  wall time per file (hooks included): ${files.join(', ')}`);
    console.log('  slowest tests (with their suite\'s hooks before them):');
    for (const d of slowest) console.log(`    ${seconds(d.ms).padStart(8)}  ${d.title} (${d.file})`);
    console.log(`  machine: ${machine()}`);
  },
};
