import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../model';
import type { AdmissionPolicy } from '../engine/scheduler';
import type { PrefillMode } from '../options';
import { batchDecodeRate } from './batch-decode';
import { BENCH_SHAPE, warmupLayerTypes, writeRandomCheckpoint, type RandomShape } from './random-checkpoint';

/** LCKV vs standard under one KV budget: concurrency, throughput and batch scaling. */
export interface EngineBenchOptions {
  shape?: RandomShape;
  requests?: number;
  promptTokens?: number;
  generateTokens?: number;
  /** Sequences of the standard model that fit the KV budget (the LCKV model gets the same bytes). */
  standardSequences?: number;
  batches?: number[];
  scalingTokens?: number;
  threads?: number;
  /** KV admission policy of every model (default 'optimistic', as loadModel). */
  admission?: AdmissionPolicy;
  log?: (line: string) => void;
}

export interface EngineBenchRow {
  model: string;
  kvBytesPerToken: number;
  kvBudgetBytes: number;
  maxConcurrent: number;
  /** Largest process RSS sampled during the run less the RSS before loading, and what the model should need at most. */
  rssGrowthBytes: number;
  weightsPlusKvBytes: number;
  tokensPerSecond: number;
  preemptions: number;
  /** Aggregate decode tokens/s with exactly this many sequences decoding together. */
  batchScaling: { batch: number; tokensPerSecond: number }[];
}

function prompt(n: number, vocab: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + 13) % vocab);
}

type MeasureOptions = Required<Omit<EngineBenchOptions, 'shape' | 'log' | 'threads'>> & { threads?: number };

/** `scaling`: batch figures already measured for this checkpoint (they do not depend on the prefill mode). */
async function measureVariant(
  dir: string,
  name: string,
  budget: number,
  prefill: PrefillMode,
  o: MeasureOptions,
  scaling?: EngineBenchRow['batchScaling'],
): Promise<EngineBenchRow> {
  const rssBefore = process.memoryUsage.rss();
  const model = await loadModel(dir, { threads: o.threads, kvCache: { bytes: budget, admission: o.admission }, maxBatch: 256 });
  try {
    const vocab = model.info.vocabSize;
    let maxConcurrent = 0;
    let peakRssBytes = 0;
    const timer = setInterval(() => {
      maxConcurrent = Math.max(maxConcurrent, model.stats().running);
      peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
    }, 5);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.requests }, (_, r) =>
        model.generate(prompt(o.promptTokens, vocab, r), { maxTokens: o.generateTokens, temperature: 0, prefill }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    const stats = model.stats();
    return {
      model: name,
      kvBytesPerToken: model.info.kvBytesPerToken,
      kvBudgetBytes: budget,
      maxConcurrent,
      rssGrowthBytes: peakRssBytes - rssBefore,
      weightsPlusKvBytes: fs.statSync(path.join(dir, 'model.safetensors')).size + model.stats().kvBytesTotal,
      tokensPerSecond: (o.requests * o.generateTokens) / seconds,
      preemptions: stats.preemptions,
      batchScaling: scaling ?? (await measureScaling(dir, o)),
    };
  } finally {
    await model.dispose();
  }
}

/** Batch scaling on a load of its own whose KV holds the largest batch: the budget of the
 *  request run may hold fewer sequences than that, and scaling is a property of the compute. */
async function measureScaling(dir: string, o: MeasureOptions): Promise<EngineBenchRow['batchScaling']> {
  const largest = Math.max(...o.batches);
  const model = await loadModel(dir, { threads: o.threads, kvCache: { tokens: largest * (o.scalingTokens + 32) }, maxBatch: largest });
  try {
    const scaling: EngineBenchRow['batchScaling'] = [];
    for (const batch of o.batches) scaling.push({ batch, tokensPerSecond: await batchDecodeRate(model, batch, o.scalingTokens) });
    return scaling;
  } finally {
    await model.dispose();
  }
}

export async function runEngineBench(opts: EngineBenchOptions = {}): Promise<EngineBenchRow[]> {
  const shape = opts.shape ?? BENCH_SHAPE;
  const o = {
    requests: opts.requests ?? 64,
    promptTokens: opts.promptTokens ?? 32,
    generateTokens: opts.generateTokens ?? 128,
    standardSequences: opts.standardSequences ?? 8,
    batches: opts.batches ?? [1, 8, 32],
    scalingTokens: opts.scalingTokens ?? 16,
    threads: opts.threads,
    admission: opts.admission ?? 'optimistic',
  };
  const log = opts.log ?? (() => undefined);
  const kvHeadBytes = 2 * shape.numKvHeads * (shape.hiddenSize / shape.numHeads) * 2; // K and V, f16
  const blockTokens = 16;
  const perSequence = Math.ceil((o.promptTokens + o.generateTokens) / blockTokens) * blockTokens;
  const budget = o.standardSequences * perSequence * kvHeadBytes * shape.numLayers;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lckv-engine-bench-'));
  const rows: EngineBenchRow[] = [];
  try {
    const lckv = `lckv ${warmupLayerTypes(shape.numLayers)}`;
    // The LCKV model twice: prompts prefilled by the paper's iterative plan ('auto' for
    // prompts longer than m+b), and token by token riding along the batched decode steps.
    const variants: [string, RandomShape, PrefillMode[]][] = [
      ['standard', shape, ['auto']],
      [lckv, { ...shape, layerTypes: warmupLayerTypes(shape.numLayers) }, ['auto', 'sequential']],
    ];
    for (const [name, s, modes] of variants) {
      const dir = path.join(tmp, name.split(' ')[0]);
      log(`writing ${name} ...`);
      writeRandomCheckpoint(dir, s, 'F16');
      let scaling: EngineBenchRow['batchScaling'] | undefined;
      for (const mode of modes) {
        const label = modes.length > 1 ? `${name}, ${mode} prefill` : name;
        log(`measuring ${label} (${o.requests} requests of ${o.promptTokens} + ${o.generateTokens} tokens, KV budget ${(budget / 2 ** 20).toFixed(1)} MiB) ...`);
        const row = await measureVariant(dir, label, budget, mode, o, scaling);
        scaling = row.batchScaling;
        rows.push(row);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

/** The first row is the standard model; every other row gets a ratio line against it. */
export function formatEngineTable(rows: EngineBenchRow[]): string {
  const [std, ...others] = rows;
  const batches = std.batchScaling.map((b) => b.batch);
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const head =
    `| model | KV B/token | max concurrent | decode tok/s (all requests) | preemptions | RSS growth MiB | weights + KV MiB | ` +
    `${batches.map((b) => `batch ${b} tok/s`).join(' | ')} |`;
  const sep = `|---|---:|---:|---:|---:|---:|---:|${batches.map(() => '---:').join('|')}|`;
  const line = (r: EngineBenchRow) =>
    `| ${r.model} | ${r.kvBytesPerToken} | ${r.maxConcurrent} | ${r.tokensPerSecond.toFixed(1)} | ${r.preemptions} | ` +
    `${mib(r.rssGrowthBytes)} | ${mib(r.weightsPlusKvBytes)} | ${r.batchScaling.map((b) => b.tokensPerSecond.toFixed(1)).join(' | ')} |`;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const ratios = (r: EngineBenchRow) =>
    `| ${r.model} / standard | ${ratio(std.kvBytesPerToken, r.kvBytesPerToken)} less | ${ratio(r.maxConcurrent, std.maxConcurrent)} | ` +
    `${ratio(r.tokensPerSecond, std.tokensPerSecond)} | | | | ${r.batchScaling.map((b, i) => ratio(b.tokensPerSecond, std.batchScaling[i].tokensPerSecond)).join(' | ')} |`;
  return [head, sep, ...rows.map(line), ...others.map(ratios)].join('\n');
}
