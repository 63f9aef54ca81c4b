// Root hooks (loaded by .mocharc.json): after the whole run, prints the slowest tests, the
// time per file and the machine they ran on. CI shows only the end of its log, so this is
// where a run that is slow on some machine says where its time went.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from 'mocha';
import { native } from '../../lib/native';

const durations: { title: string; file: string; ms: number }[] = [];

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const thp = readOr('/sys/kernel/mm/transparent_hugepage/enabled', 'n/a');
  const quota = readOr('/sys/fs/cgroup/cpu.max', 'n/a');
  const free = (os.freemem() / 2 ** 30).toFixed(1);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${cpu}; availableParallelism ${os.availableParallelism()}; cgroup cpu.max ${quota}; isa ${native().isa}; THP ${thp}; free ${free} GiB; load ${load}`;
}

export const mochaHooks = {
  afterEach(this: Context): void {
    const test = this.currentTest;
    if (test?.duration !== undefined) durations.push({ title: test.fullTitle(), file: path.basename(test.file ?? '?'), ms: test.duration });
  },
  afterAll(): void {
    const perFile = new Map<string, number>();
    for (const d of durations) perFile.set(d.file, (perFile.get(d.file) ?? 0) + d.ms);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const files = [...perFile].sort((a, b) => b[1] - a[1]).map(([f, ms]) => `${f} ${seconds(ms)}`);
    const slowest = [...durations].sort((a, b) => b.ms - a.ms).slice(0, 8);
    console.log(`\n  time per file: ${files.join(', ')}`);
    console.log('  slowest tests:');
    for (const d of slowest) console.log(`    ${seconds(d.ms).padStart(8)}  ${d.title} (${d.file})`);
    console.log(`  machine: ${machine()}`);
  },
};
