// The kernels benchmark (npm run bench -- kernels) at a tiny shape: the table has every
// figure, each positive and finite, and the roofline counts match the checkpoint it writes.
// Timings are not asserted: the machine is shared.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { batchDecodeRate } from '../lib/bench/batch-decode';
import { runKernelBench, type KernelBenchResult } from '../lib/bench/kernels';
import { formatKernelTable } from '../lib/bench/kernels-table';
import { writeRandomCheckpoint, BENCH_SHAPE } from '../lib/bench/random-checkpoint';
import { decodeFlops, decodeWeightBytes, layerMatrixParams, prefillFlops, type LlamaShape } from '../lib/bench/roofline';
import { loadModel } from '../lib/model';
import { removeDir, tmpDir } from './fixtures';

const TINY: LlamaShape = { hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 256, maxPositions: 256 };

function positiveNumbers(value: unknown, where: string): void {
  if (typeof value === 'number') assert.ok(Number.isFinite(value) && value > 0, `${where} = ${value}`);
  else if (Array.isArray(value)) value.forEach((v, i) => positiveNumbers(v, `${where}[${i}]`));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) positiveNumbers(v, `${where}.${k}`);
}

describe('kernels benchmark', () => {
  it('decode reads every weight but the embedding rows not looked up', () => {
    const dir = tmpDir('lckv-roofline-');
    try {
      writeRandomCheckpoint(dir, TINY, 'F16');
      const file = fs.readFileSync(path.join(dir, 'model.safetensors'));
      const payload = file.length - 8 - Number(file.readBigUInt64LE(0));
      const unreadEmbedding = (TINY.vocabSize - 1) * TINY.hiddenSize * 2;
      assert.equal(decodeWeightBytes(TINY, 'F16'), payload - unreadEmbedding);
      assert.equal(decodeWeightBytes(TINY, 'F32'), 2 * decodeWeightBytes(TINY, 'BF16'));
    } finally {
      removeDir(dir);
    }
  });

  it('prefill flops: linear maps per token, causal attention, lm_head once', () => {
    // The shape: 6.49M matrix weights per layer (q 768², k and v 384x768, o 768², MLP 3x2048x768).
    assert.equal(layerMatrixParams(BENCH_SHAPE), 6_488_064);
    const n = 512;
    const attention = 2 * 2 * 768 * ((n * (n + 1)) / 2);
    assert.equal(prefillFlops(BENCH_SHAPE, n), 12 * (2 * n * 6_488_064 + attention) + 2 * 32000 * 768);
  });

  it('decode flops: two per matrix weight read, embedding and norms excluded', () => {
    const normsAndEmbeddingRow = (2 * 12 + 1 + 1) * 768;
    assert.equal(decodeFlops(BENCH_SHAPE), 2 * (decodeWeightBytes(BENCH_SHAPE, 'F32') / 4 - normsAndEmbeddingRow));
  });

  it('a batch rate is refused when its sequences could not all decode together', async () => {
    const dir = tmpDir('lckv-batch-rate-');
    try {
      writeRandomCheckpoint(dir, TINY, 'F16');
      // Two sequences' worth of KV (8-token prompt + 4 tokens each, one 16-token block):
      // a batch of 4 runs two at a time, which must not pass for a batch of 4.
      const model = await loadModel(dir, { kvCache: { tokens: 32, admission: 'reserve' }, maxBatch: 4 });
      try {
        assert.ok((await batchDecodeRate(model, 2, 2)) > 0);
        await assert.rejects(batchDecodeRate(model, 4, 2), /did not all decode together/);
      } finally {
        await model.dispose();
      }
    } finally {
      removeDir(dir);
    }
  });

  it('prints one row per weight dtype, every figure positive and finite', async () => {
    const result: KernelBenchResult = await runKernelBench({
      shape: TINY,
      threads: 2,
      promptTokens: 16,
      decodeTokens: 4,
      batches: [2, 4],
      batchSteps: 2,
      repeats: 1,
      probe: { triadElements: 1 << 16, matmul: [8, 16, 32], fmaIterations: 1000, attention: { context: 40, batches: [1, 3] }, reps: 2 },
    });
    assert.deepEqual(result.rows.map((r) => r.dtype), ['F32', 'F16', 'BF16']);
    assert.deepEqual(result.batches, [2, 4]);
    for (const row of result.rows) {
      assert.deepEqual(row.batches.map((b) => b.batch), [2, 4]);
      assert.deepEqual(row.hardware.attentionGBps.map((a) => a.batch), [1, 3]);
      assert.ok(row.hardware.isa.length > 0);
    }
    positiveNumbers(result.rows, 'rows');

    const table = formatKernelTable(result).split('\n');
    assert.ok(table.includes('| | F32 | F16 | BF16 |'));
    const body = table.filter((l) => l.startsWith('| ') && !l.startsWith('| |'));
    for (const label of ['triad GB/s', 'read-only GB/s', 'fraction of the read-only bound', 'bandwidth bound', 'batch-1 decode tok/s', 'p50 / p90', 'batch 2 decode', 'batch 4 decode', 'batch 4 / batch 1, most the FMA peak allows', 'batch 4 decode, fraction of FMA peak', 'FMA loop', 'matmul kernel', 'prefill tok/s', 'decode attention, 1 row at 40 positions, K/V GB/s', 'decode attention, 3 rows at 40 positions, fraction of read-only'])
      assert.ok(body.some((l) => l.includes(label)), label);
    for (const l of body) {
      const cells = l.split('|').slice(2, -1).map((c) => c.trim());
      assert.equal(cells.length, 3, l);
      for (const c of cells) assert.match(c, /^\d+(\.\d+)?(%|x| \(\d+\.\d\)| \/ \d+\.\d)?$/, l);
    }

    // A column whose FMA probe ran while the cores were taken: its fractions still use the run's best peak.
    const [f32, f16, bf16] = result.rows;
    const slowed = { ...f16, hardware: { ...f16.hardware, fmaGflops: { best: 1e-3, median: 1e-3 } } };
    const peak = Math.max(f32.hardware.fmaGflops.best, bf16.hardware.fmaGflops.best);
    const line = formatKernelTable({ ...result, rows: [f32, slowed, bf16] })
      .split('\n')
      .find((l) => l.startsWith('| prefill, fraction of FMA peak'));
    assert.equal(line?.split('|')[3].trim(), `${((100 * f16.prefillGflops) / peak).toFixed(0)}%`);
  });
});
