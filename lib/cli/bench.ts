import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatModelTable, runModelBench, type BenchRow } from '../bench';
import { throughputChart } from '../bench/chart';
import { formatEngineTable, runEngineBench } from '../bench/engine';
import { runKernelBench } from '../bench/kernels';
import { formatKernelTable } from '../bench/kernels-table';
import { measureCase } from '../bench/measure';
import { BENCH_SHAPE, type WeightDtype } from '../bench/random-checkpoint';
import { DEFAULT_MODEL_DIR } from '../model';
import { UsageError, numberFlag, out, parse, type Command } from './common';

const DTYPES: readonly WeightDtype[] = ['F32', 'F16', 'BF16'];

/** A tiny random shape (~1M parameters) for a quick look (--small). */
const SMALL_SHAPE = { ...BENCH_SHAPE, hiddenSize: 128, intermediateSize: 352, numLayers: 4, numHeads: 4, numKvHeads: 2, vocabSize: 2048 };

export const bench: Command = {
  name: 'bench',
  synopsis: 'bench [--model DIR | --dtypes F16,...]',
  summary: 'prefill/decode speed and memory, as a table',
  usage: `Usage: lckv bench [--model DIR] [options]
       lckv bench --engine [--chart out.svg] [--small]
       lckv bench --kernels [--dtypes F16,...] [--small]

Without --model: random ~127M-parameter models (hidden 768, 12 layers, vocab 32000), a
standard Llama and its LCKV twin (warmup layers), for each weight dtype, each measured in
a fresh process. With --model: that checkpoint (--model bundled: the bundled model).
Prints prefill tokens/s, decode tokens/s, p50/p90 per-token latency and peak RSS.
--engine (or --chart): the batching engine instead — the standard model and its LCKV twin
under the same KV budget: sequences served at once, aggregate decode tokens/s, and decode
tokens/s at batch 1, 8 and 32; --chart draws the batch scaling of both as an SVG.
--kernels: the CPU kernels against this machine's limits measured in the same run — memory
bandwidth (STREAM triad) and f32 peak (FMA loop, matmul kernel), then for the standard
random model at each dtype: batch-1 decode vs the bandwidth bound, batch 8 and 32, and
512-token prefill vs the f32 peak (docs/benchmarks.md).

Options:
  --model DIR                 measure this checkpoint instead of random models
  --dtypes LIST               weight dtypes of the random models (default F32,F16,BF16)
  --small                     a ~1M-parameter random shape and fewer requests (quick)
  --prompt-tokens N           prefill prompt length (default 512)
  --decode-tokens N           tokens decoded per repeat (default 64)
  --repeats N                 repeats; medians are reported (default 3; 5 with --kernels)
  --threads N                 compute threads (default: all cores)
  --engine                    the engine benchmark (LCKV vs standard, same KV budget)
  --kernels                   the kernels benchmark (figures as fractions of the hardware's limits)
  --chart FILE                with the engine benchmark, write throughput vs batch size as SVG
  -h, --help                  this help`,

  async run(args) {
    const { values, positionals } = parse(args, {
      model: { type: 'string' },
      dtypes: { type: 'string' },
      small: { type: 'boolean' },
      'prompt-tokens': { type: 'string' },
      'decode-tokens': { type: 'string' },
      repeats: { type: 'string' },
      threads: { type: 'string' },
      engine: { type: 'boolean' },
      kernels: { type: 'boolean' },
      chart: { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const dtypes = values.dtypes?.split(',').map((d) => d.trim().toUpperCase());
    if (dtypes && !dtypes.every((d): d is WeightDtype => (DTYPES as string[]).includes(d)))
      throw new UsageError(`--dtypes takes a list of ${DTYPES.join(', ')}`);
    const common = {
      promptTokens: numberFlag('--prompt-tokens', values['prompt-tokens'], 1, 1 << 20, true) ?? 512,
      decodeTokens: numberFlag('--decode-tokens', values['decode-tokens'], 2, 1 << 20, true) ?? 64,
      repeats: numberFlag('--repeats', values.repeats, 1, 1000, true) ?? 3,
      threads: numberFlag('--threads', values.threads, 1, 1024, true),
    };
    if (values.kernels) {
      if (values.model !== undefined || values.engine || values.chart !== undefined)
        throw new UsageError('--kernels measures random models on its own; it takes no --model, --engine or --chart');
      const result = await runKernelBench({
        ...common,
        repeats: values.repeats === undefined ? undefined : common.repeats,
        dtypes,
        ...(values.small ? { shape: SMALL_SHAPE } : {}),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      out(formatKernelTable(result) + '\n');
      return;
    }
    if (values.engine || values.chart !== undefined) {
      if (values.model !== undefined) throw new UsageError('--engine compares random models; it takes no --model');
      const engineRows = await runEngineBench({
        threads: common.threads,
        ...(values.small ? { shape: SMALL_SHAPE, requests: 16, promptTokens: 16, generateTokens: 16, scalingTokens: 4 } : {}),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      if (values.chart !== undefined) fs.writeFileSync(values.chart, throughputChart(engineRows));
      out(formatEngineTable(engineRows) + '\n');
      return;
    }
    let rows: BenchRow[];
    if (values.model !== undefined) {
      const dir = values.model === 'bundled' ? DEFAULT_MODEL_DIR : values.model;
      const weightBytes = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.safetensors'))
        .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
      const result = await measureCase({ dir, ...common }, weightBytes);
      rows = [{ model: path.basename(dir), dtype: 'as stored', ...result }];
    } else {
      rows = runModelBench({ ...common, dtypes, shape: values.small ? SMALL_SHAPE : undefined, log: (l) => process.stderr.write(`${l}\n`) });
    }
    out(formatModelTable(rows) + '\n');
  },
};
