// The default thread count honours a container's CPU quota (cgroup v2 cpu.max).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultThreads } from '../lib/threads';
import { removeDir, tmpDir } from './fixtures';

describe('default threads', () => {
  it('are the usable cores, capped by cpu.max rounded up; no quota or no file leaves the cores', () => {
    const dir = tmpDir('lckv-cpu-max-');
    try {
      const cores = os.availableParallelism();
      const file = path.join(dir, 'cpu.max');
      const withQuota = (text: string) => {
        fs.writeFileSync(file, text);
        return defaultThreads(file);
      };
      assert.equal(withQuota('max 100000\n'), cores);
      assert.equal(withQuota('50000 100000\n'), 1);
      assert.equal(withQuota('150000 100000\n'), Math.min(cores, 2));
      assert.equal(withQuota(`${1000 * 100000} 100000\n`), cores);
      assert.equal(withQuota('garbage'), cores);
      assert.equal(defaultThreads(path.join(dir, 'missing')), cores);
    } finally {
      removeDir(dir);
    }
  });
});
