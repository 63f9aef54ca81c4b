import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * Compute threads to use by default: the cores this process may run on, capped by a cgroup
 * v2 CPU quota (a container given 2 CPUs of a 64-core host). os.availableParallelism()
 * counts the affinity mask only; more threads than the quota allows take turns on it, and
 * a kernel split statically across threads then waits for its slowest, descheduled part.
 */
export function defaultThreads(cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number {
  const cores = Math.max(1, os.availableParallelism());
  let text: string;
  try {
    text = fs.readFileSync(cpuMaxFile, 'utf8');
  } catch {
    return cores;  // no cgroup v2 file: no quota to honour
  }
  const [quota, period] = text.trim().split(/\s+/).map(Number);
  if (!(quota > 0 && period > 0)) return cores;  // 'max': unlimited
  return Math.max(1, Math.min(cores, Math.ceil(quota / period)));
}
