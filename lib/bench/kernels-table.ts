import type { KernelBenchResult } from './kernels';

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const f1 = (x: number) => x.toFixed(1);
/** Three significant digits: readable for the full shape and the tiny test shape alike. */
const sig3 = (x: number) => String(Number(x.toPrecision(3)));

/** The probe lines, then one row per weight dtype. */
export function formatKernelTable(r: KernelBenchResult): string {
  const hw = r.hardware;
  const [m, n, k] = hw.sizes.matmul;
  const mib = (hw.sizes.triadElements * 4) / 2 ** 20;
  const s = r.shape;
  const probe = [
    `memory bandwidth, STREAM triad a[i] = b[i] + s*c[i] (f32, 12 bytes/element counted, 3 x ${sig3(mib)} MiB): ` +
      `best ${f1(hw.triadGBps.best)} GB/s, median ${f1(hw.triadGBps.median)} GB/s`,
    `f32 peak, register-only multiply-add loop (${hw.isa} path): best ${f1(hw.fmaGflops.best)} GFLOP/s, median ${f1(hw.fmaGflops.median)} GFLOP/s`,
    `f32 matmul kernel (lckv, ${hw.isa}), ${m} x ${k} by ${n} x ${k}: best ${f1(hw.matmulGflops.best)} GFLOP/s, median ${f1(hw.matmulGflops.median)} GFLOP/s`,
    `${hw.threads} threads, ${hw.sizes.reps} repetitions each`,
    `model: random standard Llama, hidden ${s.hiddenSize}, ${s.numLayers} layers, ${s.numHeads} heads, ${s.numKvHeads} KV heads, ` +
      `ffn ${s.intermediateSize}, vocab ${s.vocabSize}; prefill prompt ${r.promptTokens} tokens`,
  ];
  const batches = r.batches;
  const head =
    '| weights | MB read/token | decode tok/s | p50 ms | p90 ms | bandwidth bound tok/s | of bound | ' +
    `${batches.map((b) => `batch ${b} tok/s`).join(' | ')} | batch ${batches[batches.length - 1]} / batch 1 | ` +
    'prefill tok/s | prefill GFLOP/s | of FMA peak | of matmul peak |';
  const sep = `|---|${Array(6).fill('---:').join('|')}|${batches.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`;
  const lines = r.rows.map((row) => {
    const last = row.batches[row.batches.length - 1].tokensPerSecond;
    return (
      `| ${row.dtype} | ${sig3(row.weightBytesPerToken / 1e6)} | ${f1(row.decodeTokensPerSecond)} | ` +
      `${f1(row.decodeP50Ms)} | ${f1(row.decodeP90Ms)} | ${f1(row.boundTokensPerSecond)} | ` +
      `${pct(row.decodeTokensPerSecond / row.boundTokensPerSecond)} | ` +
      `${row.batches.map((b) => f1(b.tokensPerSecond)).join(' | ')} | ${(last / row.decodeTokensPerSecond).toFixed(1)}x | ` +
      `${f1(row.prefillTokensPerSecond)} | ${f1(row.prefillGflops)} | ` +
      `${pct(row.prefillGflops / hw.fmaGflops.best)} | ${pct(row.prefillGflops / hw.matmulGflops.best)} |`
    );
  });
  return [...probe.map((l) => `- ${l}`), '', head, sep, ...lines].join('\n');
}
