import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../model';
import { batchDecodeRate } from './batch-decode';
import { FULL_PROBE, probeHardware, type HardwareLimits, type ProbeSizes } from './hardware';
import { measureCase, median } from './measure';
import { BENCH_SHAPE, writeRandomCheckpoint, type WeightDtype } from './random-checkpoint';
import { decodeWeightBytes, prefillFlops, type LlamaShape } from './roofline';
import { defaultThreads } from '../threads';

/** The CPU kernels against the machine's own limits, measured in the same run (issue 5). */
export interface KernelBenchOptions {
  shape?: LlamaShape;
  dtypes?: WeightDtype[];
  /** Compute threads of the model and of the probes (default: all cores). */
  threads?: number;
  promptTokens?: number;
  /** Tokens decoded per batch-1 repeat (after a 16-token prompt). */
  decodeTokens?: number;
  batches?: number[];
  /** Timed batched steps per batch repeat. */
  batchSteps?: number;
  repeats?: number;
  probe?: ProbeSizes;
  log?: (line: string) => void;
}

export interface KernelRow {
  dtype: WeightDtype;
  /** Probed just before this row's model figures: the machine drifts (shared, noisy). */
  hardware: HardwareLimits;
  /** Weight bytes one batch-1 decode step reads (roofline.ts). */
  weightBytesPerToken: number;
  decodeTokensPerSecond: number;
  decodeP50Ms: number;
  decodeP90Ms: number;
  /** Triad bandwidth (best) / weight bytes per token. */
  boundTokensPerSecond: number;
  /** Aggregate tokens/s with exactly this many sequences decoding together. */
  batches: { batch: number; tokensPerSecond: number }[];
  prefillTokensPerSecond: number;
  /** prefillFlops(shape, promptTokens) at the measured prefill rate. */
  prefillGflops: number;
}

export interface KernelBenchResult {
  shape: LlamaShape;
  promptTokens: number;
  /** Batch sizes of every row's `batches`, in order. */
  batches: number[];
  rows: KernelRow[];
}

async function measureDtype(dir: string, dtype: WeightDtype, hw: HardwareLimits, o: Required<Omit<KernelBenchOptions, 'log' | 'dtypes'>>): Promise<KernelRow> {
  const spec = { dir, threads: o.threads, promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, repeats: o.repeats };
  const single = await measureCase(spec, 0);  // the file size it passes through is not reported here
  const model = await loadModel(dir, { threads: o.threads, maxBatch: Math.max(...o.batches) });
  const batches: KernelRow['batches'] = [];
  try {
    for (const batch of o.batches) {
      const rates: number[] = [];
      for (let r = 0; r < o.repeats; r++) rates.push(await batchDecodeRate(model, batch, o.batchSteps, 1000 * (r + 1)));
      batches.push({ batch, tokensPerSecond: median(rates) });
    }
  } finally {
    await model.dispose();
  }
  const weightBytesPerToken = decodeWeightBytes(o.shape, dtype);
  return {
    dtype,
    hardware: hw,
    weightBytesPerToken,
    decodeTokensPerSecond: single.decodeTokensPerSecond,
    decodeP50Ms: single.decodeP50Ms,
    decodeP90Ms: single.decodeP90Ms,
    boundTokensPerSecond: (hw.triadGBps.best * 1e9) / weightBytesPerToken,
    batches,
    prefillTokensPerSecond: single.prefillTokensPerSecond,
    prefillGflops: (prefillFlops(o.shape, o.promptTokens) / o.promptTokens) * single.prefillTokensPerSecond / 1e9,
  };
}

/** For each weight dtype: probes the hardware, then measures a random standard Llama in this process. */
export async function runKernelBench(opts: KernelBenchOptions = {}): Promise<KernelBenchResult> {
  const o = {
    shape: opts.shape ?? BENCH_SHAPE,
    threads: opts.threads ?? defaultThreads(),
    promptTokens: opts.promptTokens ?? 512,
    decodeTokens: opts.decodeTokens ?? 64,
    batches: opts.batches ?? [8, 32],
    batchSteps: opts.batchSteps ?? 16,
    repeats: opts.repeats ?? 5,
    probe: opts.probe ?? FULL_PROBE,
  };
  if (o.batches.length === 0) throw new Error('the kernels benchmark needs at least one batch size');
  const log = opts.log ?? (() => undefined);
  const rows: KernelRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lckv-kernels-bench-'));
  try {
    for (const dtype of opts.dtypes ?? (['F32', 'F16', 'BF16'] as WeightDtype[])) {
      const dir = path.join(tmp, dtype);
      log(`writing ${dtype} ...`);
      writeRandomCheckpoint(dir, o.shape, dtype);
      log(`probing memory bandwidth, f32 peak and decode attention on ${o.threads} threads ...`);
      const s = o.shape;
      const hardware = await probeHardware(o.threads, o.probe, [s.numHeads, s.numKvHeads, s.hiddenSize / s.numHeads]);
      log(`measuring ${dtype} ...`);
      rows.push(await measureDtype(dir, dtype, hardware, o));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { shape: o.shape, promptTokens: o.promptTokens, batches: o.batches, rows };
}
