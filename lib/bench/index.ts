import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CaseResult, CaseSpec } from './measure';
import { BENCH_SHAPE, warmupLayerTypes, writeRandomCheckpoint, type RandomShape, type WeightDtype } from './random-checkpoint';

export interface BenchOptions {
  /** Weight dtypes to run (default all three). */
  dtypes?: WeightDtype[];
  threads?: number;
  promptTokens?: number;
  decodeTokens?: number;
  repeats?: number;
  shape?: RandomShape;
  log?: (line: string) => void;
}

export interface BenchRow extends CaseResult {
  model: string;
  /** Weight dtype of a random model, or 'as stored' for a given checkpoint. */
  dtype: WeightDtype | 'as stored';
}

/** The module-loader flags of this process (tsx when run from source), nothing else: never --eval. */
function loaderFlags(): string[] {
  const flags: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++)
    if (['--require', '-r', '--import', '--loader'].includes(argv[i]) && i + 1 < argv.length) flags.push(argv[i], argv[++i]);
  return flags;
}

function runCase(spec: CaseSpec & { weightBytes: number }): CaseResult {
  const script = path.join(__dirname, `measure${path.extname(__filename)}`);
  const out = spawnSync(process.execPath, [...loaderFlags(), script, JSON.stringify(spec)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`benchmark case failed:\n${out.stderr}`);
  return JSON.parse(out.stdout) as CaseResult;
}

/**
 * Prefill and decode throughput and peak RSS of a random ~100M-parameter model, standard
 * and LCKV (warmup layers), at each weight dtype. Each case runs in a fresh process.
 */
export function runModelBench(opts: BenchOptions = {}): BenchRow[] {
  const shape = opts.shape ?? BENCH_SHAPE;
  const log = opts.log ?? (() => undefined);
  const variants: [string, RandomShape][] = [
    ['standard', shape],
    [`lckv ${warmupLayerTypes(shape.numLayers)}`, { ...shape, layerTypes: warmupLayerTypes(shape.numLayers) }],
  ];
  const rows: BenchRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lckv-bench-'));
  try {
    for (const dtype of opts.dtypes ?? (['F32', 'F16', 'BF16'] as WeightDtype[]))
      for (const [name, s] of variants) {
        const dir = path.join(tmp, `${name.split(' ')[0]}-${dtype}`);
        log(`writing ${name} ${dtype} ...`);
        writeRandomCheckpoint(dir, s, dtype);
        const weightBytes = fs.statSync(path.join(dir, 'model.safetensors')).size;
        log(`measuring ${name} ${dtype} ...`);
        const result = runCase({
          dir,
          threads: opts.threads,
          promptTokens: opts.promptTokens ?? 512,
          decodeTokens: opts.decodeTokens ?? 64,
          repeats: opts.repeats ?? 3,
          weightBytes,
        });
        rows.push({ model: name, dtype, ...result });
        fs.rmSync(dir, { recursive: true, force: true });
      }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

export function formatModelTable(rows: BenchRow[]): string {
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  const head = '| model | weights | prefill tok/s | decode tok/s | decode p50 ms | decode p90 ms | peak RSS MiB | weights MiB | KV B/token |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    (r) =>
      `| ${r.model} | ${r.dtype} | ${r.prefillTokensPerSecond.toFixed(1)} | ${r.decodeTokensPerSecond.toFixed(1)} | ` +
      `${r.decodeP50Ms.toFixed(1)} | ${r.decodeP90Ms.toFixed(1)} | ${mb(r.peakRssBytes)} | ${mb(r.weightBytes)} | ${r.kvBytesPerToken} |`,
  );
  return [head, sep, ...lines].join('\n');
}
