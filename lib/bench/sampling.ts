// npm run bench -- sampling: what drawing a token costs, per row and at batch 32.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../model';
import { native } from '../native';
import type { GenerateOptions } from '../options';
import { batchDecodeRate } from './batch-decode';
import { median } from './measure';
import { BENCH_SHAPE, writeRandomCheckpoint, type RandomShape } from './random-checkpoint';

export interface SamplingBenchOptions {
  shape?: RandomShape;
  /** Sequences decoding together for the batch figures (default 32). */
  batch?: number;
  /** Whole decode steps timed per batch figure (default 64). */
  steps?: number;
  /** Draws per timing of one row (default 500), and timings (default 5, median kept). */
  draws?: number;
  repeats?: number;
  threads?: number;
  log?: (line: string) => void;
}

export interface SamplingBenchResult {
  vocab: number;
  batch: number;
  /** Microseconds to draw one token from one row of logits, per setting (median). */
  perRow: { name: string; us: number }[];
  /** Aggregate decode tokens/s of `batch` sequences: greedy, and with `sampled` settings. */
  greedyRate: number;
  sampledRate: number;
}

/** The settings a row is drawn with. */
type Draw = Required<Pick<GenerateOptions, 'temperature' | 'topK' | 'topP' | 'minP' | 'repetitionPenalty'>>;

/** Top-k 40, top-p 0.95, min-p 0.05 at temperature 0.8 with a repetition penalty: a chat app's kind of settings. */
const SAMPLED: Draw = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1 };

const SAMPLED_NAME = 'top-k 40, top-p 0.95, min-p 0.05, penalty 1.1';

const SETTINGS: { name: string; options: Draw }[] = [
  { name: 'greedy', options: { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 } },
  { name: SAMPLED_NAME, options: SAMPLED },
  { name: 'top-p 0.95, min-p 0.05, penalty 1.1 (no top-k)', options: { ...SAMPLED, topK: 0 } },
];

/** A language model's kind of row: a few likely tokens, a long Zipf-like tail. */
function zipfRow(vocab: number): Float32Array {
  const row = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) row[(i * 7919) % vocab] = 8 - 1.5 * Math.log(1 + i) + Math.sin(i) * 0.3;
  return row;
}

function perRowMicros(vocab: number, draws: number, repeats: number): SamplingBenchResult['perRow'] {
  const addon = native();
  const row = zipfRow(vocab);
  const seen = Int32Array.from({ length: 64 }, (_, i) => (i * 101) % vocab);
  return SETTINGS.map(({ name, options: o }) => {
    const s = Float64Array.of(o.temperature, o.topK, o.topP, o.minP, o.repetitionPenalty);
    const rng = Uint32Array.of(1);
    const times: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      const t0 = performance.now();
      for (let d = 0; d < draws; d++) addon.sampleToken(row, s, seen, rng);
      if (r > 0) times.push(((performance.now() - t0) * 1000) / draws);  // the first round warms up
    }
    return { name, us: median(times) };
  });
}

export async function runSamplingBench(opts: SamplingBenchOptions = {}): Promise<SamplingBenchResult> {
  const shape = opts.shape ?? BENCH_SHAPE;
  const batch = opts.batch ?? 32;
  const steps = opts.steps ?? 64;
  const log = opts.log ?? (() => undefined);
  log(`sampling one row of ${shape.vocabSize} logits ...`);
  const perRow = perRowMicros(shape.vocabSize, opts.draws ?? 500, opts.repeats ?? 5);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lckv-sampling-bench-'));
  try {
    log('writing a random F16 checkpoint ...');
    writeRandomCheckpoint(tmp, shape, 'F16');
    const model = await loadModel(tmp, { maxBatch: batch, kvCache: { tokens: batch * (steps + 48) }, ...(opts.threads ? { threads: opts.threads } : {}) });
    try {
      log(`decoding ${batch} sequences, greedy and sampled, alternating ...`);
      const greedy: number[] = [];
      const sampled: number[] = [];
      for (let r = 0; r < 2; r++) {
        greedy.push(await batchDecodeRate(model, batch, steps));
        sampled.push(await batchDecodeRate(model, batch, steps, 1000, SAMPLED));
      }
      return { vocab: shape.vocabSize, batch, perRow, greedyRate: median(greedy), sampledRate: median(sampled) };
    } finally {
      await model.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function formatSamplingTable(r: SamplingBenchResult): string {
  const lines = [`| one row of ${r.vocab} logits | us per token |`, '|---|---:|'];
  for (const row of r.perRow) lines.push(`| ${row.name} | ${row.us.toFixed(1)} |`);
  lines.push('', `| ${r.batch} sequences decoding together | tok/s |`, '|---|---:|');
  lines.push(`| greedy | ${r.greedyRate.toFixed(1)} |`);
  lines.push(`| ${SAMPLED_NAME} | ${r.sampledRate.toFixed(1)} |`);
  lines.push(`| sampled / greedy | ${(r.sampledRate / r.greedyRate).toFixed(2)}x |`);
  return lines.join('\n');
}
