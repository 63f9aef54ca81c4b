// Device selection: loadModel's `device` option is validated like the other options;
// 'cuda' without a CUDA addon or device fails with DEVICE_UNAVAILABLE (saying how to build
// one), and 'auto' then runs on the CPU. Where a CUDA addon is built (npm run build:cuda),
// the same model gives the same logits and greedy tokens on both devices, or 'cuda' fails
// cleanly when this machine has no GPU.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel, type Model } from '../lib';
import { readCheckpoint } from '../lib/checkpoint';
import { parseConfig } from '../lib/config';
import { fromNative } from '../lib/errors';
import { native } from '../lib/native';
import { makeCheckpoint } from './fixtures';
import { relDiff } from './helpers/compare';
import { expectLckvError, TINY, TmpDirs } from './helpers/robustness';

const tmp = new TmpDirs();
after(() => tmp.removeAll());

const LCKV = {
  ...TINY,
  modelType: 'lckv-llama' as const,
  numLayers: 4,
  numHeads: 4,
  numKvHeads: 2,
  layerTypes: '0_2_2_3',
  forwardPasses: 2,
  backwardPasses: 1,
};

/** Runs fn with LCKV_CUDA_ADDON set to `value` (or unset), restoring it afterwards. */
async function withCudaAddon<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.LCKV_CUDA_ADDON;
  if (value === undefined) delete process.env.LCKV_CUDA_ADDON;
  else process.env.LCKV_CUDA_ADDON = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.LCKV_CUDA_ADDON;
    else process.env.LCKV_CUDA_ADDON = saved;
  }
}

describe('device option', () => {
  const dir = () => makeCheckpoint(tmp.make(), LCKV).dir;

  it('rejects anything but auto, cpu or cuda with INVALID_ARGUMENT', async () => {
    for (const device of ['gpu', 'CUDA', '', 0, null, true, ['cuda']]) {
      const err = await expectLckvError(() => loadModel(dir(), { device: device as never }), 'INVALID_ARGUMENT');
      assert.match(err.message, /device must be 'auto', 'cpu' or 'cuda'/);
    }
  });

  it("'cuda' without a CUDA addon fails with DEVICE_UNAVAILABLE and says how to build one", async () => {
    const missing = path.join(tmp.make(), 'no-such-addon.node');
    await withCudaAddon(missing, async () => {
      const err = await expectLckvError(() => loadModel(dir(), { device: 'cuda' }), 'DEVICE_UNAVAILABLE');
      assert.match(err.message, /npm run build:cuda/);
      assert.ok(err.message.includes(missing), err.message);
    });
  });

  it("'cuda' with a file that is not an addon fails with DEVICE_UNAVAILABLE, not a crash", async () => {
    const bogus = path.join(tmp.make(), 'lckv.node');
    fs.writeFileSync(bogus, 'not a shared object');
    await withCudaAddon(bogus, async () => {
      const err = await expectLckvError(() => loadModel(dir(), { device: 'cuda' }), 'DEVICE_UNAVAILABLE');
      assert.match(err.message, /does not load/);
    });
  });

  it("'auto' (the default) and 'cpu' run on the CPU when there is no CUDA addon", async () => {
    await withCudaAddon(path.join(tmp.make(), 'no-such-addon.node'), async () => {
      for (const device of [undefined, 'auto', 'cpu'] as const) {
        const model = await loadModel(dir(), device ? { device } : {});
        try {
          assert.equal(model.info.device, 'cpu');
          assert.equal(model.info.cudaDevice, undefined);
          const out = await model.generate([1, 2, 3], { maxTokens: 4, temperature: 0 });
          assert.equal(out.tokens.length, 4);
        } finally {
          await model.dispose();
        }
      }
    });
  });

  it("the CPU addon reports no CUDA device and refuses to build a 'cuda' engine", async () => {
    const addon = native();
    assert.equal(addon.cudaDevice(), null);
    const d = dir();
    const parsed = parseConfig(JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')));
    const weights = await readCheckpoint(d);
    const options = { device: 'cuda' as const, threads: 1, kvDtype: 'f16', kvBytes: 0, kvTokens: 0 };
    const err = await expectLckvError(() => {
      try {
        return new addon.NativeModel(parsed.native, weights.files, weights.tensors, options);
      } catch (e) {
        throw fromNative(e);
      }
    }, 'DEVICE_UNAVAILABLE');
    assert.match(err.message, /npm run build:cuda/);
  });

  const built = path.join(__dirname, '..', 'build-cuda', 'Release', 'lckv.node');
  (fs.existsSync(built) ? it : it.skip)('with the CUDA addon built: cuda equals cpu, or fails cleanly without a GPU', async () => {
    await withCudaAddon(built, async () => {
      const d = dir();
      let cuda: Model;
      try {
        cuda = await loadModel(d, { device: 'cuda', kvCache: { dtype: 'f32' } });
      } catch (err) {
        await expectLckvError(() => Promise.reject(err), 'DEVICE_UNAVAILABLE');
        const fallback = await loadModel(d, { device: 'auto' });
        assert.equal(fallback.info.device, 'cpu');
        await fallback.dispose();
        return;
      }
      const cpu = await loadModel(d, { device: 'cpu', kvCache: { dtype: 'f32' } });
      try {
        assert.equal(cuda.info.device, 'cuda');
        assert.ok(cuda.info.cudaDevice?.name);
        const ids = Array.from({ length: 20 }, (_, i) => (i * 7 + 1) % 32);
        const [a, b] = [await cpu.logits(ids), await cuda.logits(ids)];
        const diff = relDiff(b, a);
        assert.ok(diff < 1e-3, `relative logit difference ${diff}`);
        const opts = { maxTokens: 16, temperature: 0 };
        assert.deepEqual((await cuda.generate(ids, opts)).tokens, (await cpu.generate(ids, opts)).tokens);
      } finally {
        await cpu.dispose();
        await cuda.dispose();
      }
    });
  });
});

describe('CPU instruction-set path', () => {
  const root = path.join(__dirname, '..');

  /** The path the addon picks in a fresh process whose environment has LCKV_ISA = `cap`. */
  function isaInChild(cap: string | undefined): string {
    const env = { ...process.env };
    if (cap === undefined) delete env.LCKV_ISA;
    else env.LCKV_ISA = cap;
    const script = `process.stdout.write(require('node-gyp-build')(${JSON.stringify(root)}).isa)`;
    return execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  }

  const flags = (): Set<string> =>
    new Set((fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));

  /** The best exact path, from /proc/cpuinfo, independently of the addon's detection. */
  function bestFromCpuinfo(): string {
    if (process.arch === 'arm64') return 'neon';
    const f = flags();
    if (!['avx2', 'fma', 'f16c'].every((x) => f.has(x))) return 'generic';
    return f.has('avx512f') ? 'avx512' : 'avx2';
  }

  it('model.info.isa says which path runs: the best the CPU offers', async function () {
    if (process.platform !== 'linux') this.skip();
    const model = await loadModel(makeCheckpoint(tmp.make(), TINY).dir);
    try {
      assert.equal(model.info.isa, native().isa);
      assert.equal(isaInChild(undefined), bestFromCpuinfo());
    } finally {
      await model.dispose();
    }
  });

  it('LCKV_ISA names a lesser path; an unknown or unavailable one is ignored', function () {
    if (process.platform !== 'linux') this.skip();
    const best = bestFromCpuinfo();
    assert.equal(isaInChild('generic'), 'generic');
    assert.equal(isaInChild('no-such-isa'), best);
    assert.equal(isaInChild(best === 'avx2' ? 'avx512' : 'neon'), best);
    if (best === 'avx512') assert.equal(isaInChild('avx2'), 'avx2');
    const bf16 = best === 'avx512' && ['avx512bw', 'avx512_bf16'].every((x) => flags().has(x));
    assert.equal(isaInChild('avx512bf16'), bf16 ? 'avx512bf16' : best, 'avx512bf16 only where the CPU has it, and only by name');
  });

  it('avx512bf16, where the CPU has it: a BF16 model scores and generates on 2 threads, within bf16 rounding of the exact path', async function () {
    if (process.platform !== 'linux' || !['avx512f', 'avx512bw', 'avx512_bf16'].every((x) => flags().has(x))) this.skip();
    // Long enough that x's rounding to bf16 is split across the pool's threads (32K values a task).
    const { dir } = makeCheckpoint(tmp.make(), { dtype: 'BF16', numLayers: 3, hiddenSize: 128, intermediateSize: 384, numHeads: 4, vocabSize: 96, maxPositionEmbeddings: 512 });
    const ids = Array.from({ length: 300 }, (_, i) => (i * 37 + 5) % 96);
    const script = `require(${JSON.stringify(path.join(root, 'lib'))}).loadModel(${JSON.stringify(dir)}, { threads: 2 }).then(async (m) => {
  const logits = Array.from(await m.logits(${JSON.stringify(ids)}));
  const tokens = (await m.generate(${JSON.stringify(ids)}, { maxTokens: 8, temperature: 0 })).tokens;
  process.stdout.write(JSON.stringify({ isa: m.info.isa, logits, tokens }));
  await m.dispose();
});`;
    const env = { ...process.env, LCKV_ISA: 'avx512bf16' };
    const bf16 = JSON.parse(execFileSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { env, encoding: 'utf8', maxBuffer: 1 << 26 }));
    assert.equal(bf16.isa, 'avx512bf16');
    const exact = await loadModel(dir, { threads: 2 });
    try {
      const want = await exact.logits(ids);
      const diff = relDiff(bf16.logits, want);
      assert.ok(diff < 3e-2, `relative logit difference ${diff}`);
      assert.equal(bf16.tokens.length, 8);
    } finally {
      await exact.dispose();
    }
  });
});
