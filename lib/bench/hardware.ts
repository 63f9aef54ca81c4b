import { native, type CpuIsa } from '../native';
import { median } from './measure';

/** Sizes of the hardware probes (the triad's arrays must be far larger than the last-level cache). */
export interface ProbeSizes {
  /** f32 elements of each triad array. */
  triadElements: number;
  /** [m, n, k] of the f32 matmul: x [m, k] · w [n, k]ᵀ. */
  matmul: [number, number, number];
  /** Multiply-add loop steps per thread. */
  fmaIterations: number;
  /** Decode attention over f16 K/V at this context, for each batch size (the model's head shape). */
  attention: { context: number; batches: number[] };
  reps: number;
}

/**
 * 3 x 128 MiB triad arrays, a 512 x 2048 x 2048 matmul, ~0.1 s of multiply-adds per
 * repetition, decode attention of 1 and 8 rows at a 4,096-position context.
 */
export const FULL_PROBE: ProbeSizes = {
  triadElements: 32 * 2 ** 20,
  matmul: [512, 2048, 2048],
  fmaIterations: 20_000_000,
  attention: { context: 4096, batches: [1, 8] },
  reps: 7,
};

/** A rate over the repetitions: the best (the machine's limit) and the median (what it gave typically). */
export interface Rate {
  best: number;
  median: number;
}

export interface HardwareLimits {
  /** The kernels' ISA path: the matmul's and the multiply-add loop's. */
  isa: CpuIsa;
  threads: number;
  sizes: ProbeSizes;
  /** STREAM triad a = b + s·c on f32, counted as STREAM does: 12 bytes per element; GB/s (1e9). */
  triadGBps: Rate;
  /** Read-only streaming (a sum over one f32 array as large as a triad array); GB/s (1e9). */
  readGBps: Rate;
  /** The engine's own f32 matmul kernel on sizes.matmul; GFLOP/s. */
  matmulGflops: Rate;
  /** Register-only multiply-add loop: the arithmetic peak of the cores on this ISA path; GFLOP/s. */
  fmaGflops: Rate;
  /** Decode attention's K/V reads per batch of sizes.attention.batches; GB/s (1e9). */
  attentionGBps: { batch: number; rate: Rate }[];
}

function rate(amount: number, seconds: number[]): Rate {
  const rates = seconds.map((s) => amount / s / 1e9);
  return { best: Math.max(...rates), median: median(rates) };
}

/** The attention heads of a model: query heads, K/V heads, head dimension. */
export type HeadShape = [heads: number, kvHeads: number, headDim: number];

/** Runs the native probes on a pool of `threads` threads, off the event loop. */
export async function probeHardware(threads: number, sizes: ProbeSizes, heads: HeadShape): Promise<HardwareLimits> {
  const r = await native().probeHardware({ threads, ...sizes, attention: { ...sizes.attention, shape: heads } });
  return {
    isa: r.isa,
    threads: r.threads,
    sizes,
    triadGBps: rate(r.triad.bytes, r.triad.seconds),
    readGBps: rate(r.read.bytes, r.read.seconds),
    matmulGflops: rate(r.matmul.flops, r.matmul.seconds),
    fmaGflops: rate(r.fma.flops, r.fma.seconds),
    attentionGBps: r.attention.map((a) => ({ batch: a.batch, rate: rate(a.bytes, a.seconds) })),
  };
}
