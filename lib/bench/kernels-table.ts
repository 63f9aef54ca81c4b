import type { HardwareLimits, Rate } from './hardware';
import type { KernelBenchResult, KernelRow } from './kernels';
import { decodeFlops } from './roofline';

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const f1 = (x: number) => x.toFixed(1);
/** Three significant digits: readable for the full shape and the tiny test shape alike. */
const sig3 = (x: number) => String(Number(x.toPrecision(3)));
const bestMedian = (r: Rate) => `${f1(r.best)} (${f1(r.median)})`;

/** One line of the table: a label and a figure per weight dtype. */
type Line = [label: string, figure: (row: KernelRow) => string];

function lines(r: KernelBenchResult): Line[] {
  const batch1 = (row: KernelRow) => row.decodeTokensPerSecond;
  const largest = r.batches[r.batches.length - 1];
  return [
    ['memory bandwidth, triad GB/s: best (median)', (row) => bestMedian(row.hardware.triadGBps)],
    ['weight MB read per decoded token', (row) => sig3(row.weightBytesPerToken / 1e6)],
    ['bandwidth bound tok/s (best triad / MB per token)', (row) => f1(row.boundTokensPerSecond)],
    ['batch-1 decode tok/s', (row) => f1(batch1(row))],
    ['batch-1 decode, fraction of the bound', (row) => pct(batch1(row) / row.boundTokensPerSecond)],
    ['memory bandwidth, read-only GB/s: best (median)', (row) => bestMedian(row.hardware.readGBps)],
    ['batch-1 decode, fraction of the read-only bound', (row) => pct((batch1(row) * row.weightBytesPerToken) / (row.hardware.readGBps.best * 1e9))],
    ...attentionLines(r),
    ['per-token latency p50 / p90 ms', (row) => `${f1(row.decodeP50Ms)} / ${f1(row.decodeP90Ms)}`],
    ...r.batches.map((b, i): Line => [`batch ${b} decode tok/s (aggregate)`, (row) => f1(row.batches[i].tokensPerSecond)]),
    [`batch ${largest} / batch 1`, (row) => `${(largestRate(row) / batch1(row)).toFixed(1)}x`],
    // What the cores allow: batch-1 at its measured rate and a batch at the full FMA peak.
    [`batch ${largest} / batch 1, most the FMA peak allows`, (row) => `${(peakTokensPerSecond(r) / batch1(row)).toFixed(1)}x`],
    [`batch ${largest} decode, fraction of FMA peak (best of the run)`, (row) => pct(largestRate(row) / peakTokensPerSecond(r))],
    ['f32 peak, FMA loop GFLOP/s: best (median)', (row) => bestMedian(row.hardware.fmaGflops)],
    ['f32 matmul kernel GFLOP/s: best (median)', (row) => bestMedian(row.hardware.matmulGflops)],
    [`prefill tok/s (${r.promptTokens}-token prompt)`, (row) => f1(row.prefillTokensPerSecond)],
    ['prefill GFLOP/s (matrix work)', (row) => f1(row.prefillGflops)],
    ['prefill, fraction of FMA peak (best of the run)', (row) => pct(row.prefillGflops / runPeakGflops(r))],
    ['prefill, fraction of matmul kernel (best of the run)', (row) => pct(row.prefillGflops / runBest(r, (hw) => hw.matmulGflops))],
  ];
}

const largestRate = (row: KernelRow) => row.batches[row.batches.length - 1].tokensPerSecond;

/**
 * The best of a compute probe over the whole run (the FMA loop, the f32 matmul: the same in
 * every column). A column's own probe can run while other tenants take cycles, and a
 * fraction of that low figure would flatter.
 */
const runBest = (r: KernelBenchResult, probe: (hw: HardwareLimits) => Rate) => Math.max(...r.rows.map((row) => probe(row.hardware).best));
const runPeakGflops = (r: KernelBenchResult) => runBest(r, (hw) => hw.fmaGflops);

/** Decoded tokens/s if every flop of the matrix work ran at the run's FMA peak. */
const peakTokensPerSecond = (r: KernelBenchResult) => (runPeakGflops(r) * 1e9) / decodeFlops(r.shape);

/** Decode attention's K/V streaming, per probed batch size, against the read-only bandwidth. */
function attentionLines(r: KernelBenchResult): Line[] {
  const hw = r.rows[0]?.hardware;
  if (!hw) return [];
  const context = hw.sizes.attention.context;
  return hw.attentionGBps.flatMap(({ batch }, i): Line[] => {
    const label = `decode attention, ${batch} row${batch > 1 ? 's' : ''} at ${context} positions`;
    return [
      [`${label}, K/V GB/s: best (median)`, (row) => bestMedian(row.hardware.attentionGBps[i].rate)],
      [`${label}, fraction of read-only (best)`, (row) => pct(row.hardware.attentionGBps[i].rate.best / row.hardware.readGBps.best)],
    ];
  });
}

/** What was measured and how, then one column per weight dtype (its probes run just before it). */
export function formatKernelTable(r: KernelBenchResult): string {
  const hw = r.rows[0]?.hardware;
  const s = r.shape;
  const notes = [
    `model: random standard Llama, hidden ${s.hiddenSize}, ${s.numLayers} layers, ${s.numHeads} heads, ${s.numKvHeads} KV heads, ` +
      `ffn ${s.intermediateSize}, vocab ${s.vocabSize}`,
  ];
  if (hw) {
    const [m, n, k] = hw.sizes.matmul;
    notes.push(
      `triad: a[i] = b[i] + s*c[i] on f32, 3 x ${sig3((hw.sizes.triadElements * 4) / 2 ** 20)} MiB, STREAM's count of 12 bytes per element; ` +
        `read-only: a sum over one such array, 4 bytes per element`,
      `FMA loop: multiply-adds on registers only (${hw.isa} loop); matmul kernel: lckv's f32 matmul (${hw.isa} path), x ${m} x ${k} by w ${n} x ${k}`,
      `${hw.threads} threads; probes ${hw.sizes.reps} repetitions, model figures medians of the repeats`,
    );
  }
  const head = `| | ${r.rows.map((row) => row.dtype).join(' | ')} |`;
  const sep = `|---|${r.rows.map(() => '---:').join('|')}|`;
  const body = lines(r).map(([label, figure]) => `| ${label} | ${r.rows.map(figure).join(' | ')} |`);
  return [...notes.map((l) => `- ${l}`), '', head, sep, ...body].join('\n');
}
