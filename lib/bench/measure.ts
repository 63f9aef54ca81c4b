import { loadModel } from '../model';

/** One benchmark case, run in its own process so that its peak RSS is its own. */
export interface CaseSpec {
  dir: string;
  threads?: number;
  promptTokens: number;
  decodeTokens: number;
  repeats: number;
}

export interface CaseResult {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  decodeP50Ms: number;
  decodeP90Ms: number;
  peakRssBytes: number;
  weightBytes: number;
  kvBytesPerToken: number;
}

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

function tokens(n: number, vocab: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % vocab);
}

/** Prefill throughput (prompt -> first token) and per-token decode latency, medians of `repeats`. */
export async function measureCase(spec: CaseSpec, weightBytes: number): Promise<CaseResult> {
  const model = await loadModel(spec.dir, { threads: spec.threads });
  try {
    const vocab = model.info.vocabSize;
    await model.generate(tokens(32, vocab, 0), { maxTokens: 4, temperature: 0 }); // warm-up: page weights in
    const prefill: number[] = [];
    for (let r = 0; r < spec.repeats; r++) {
      const t0 = performance.now();
      await model.generate(tokens(spec.promptTokens, vocab, r + 1), { maxTokens: 1, temperature: 0 });
      prefill.push((spec.promptTokens * 1000) / (performance.now() - t0));
    }
    const gaps: number[] = [];
    const rates: number[] = [];
    for (let r = 0; r < spec.repeats; r++) {
      let last = 0;
      let first = 0;
      let count = 0;
      for await (const _ of model.stream(tokens(16, vocab, r + 9), { maxTokens: spec.decodeTokens, temperature: 0 })) {
        const now = performance.now();
        if (count === 0) first = now;
        else gaps.push(now - last);
        last = now;
        count++;
      }
      rates.push(((count - 1) * 1000) / (last - first));
    }
    return {
      prefillTokensPerSecond: median(prefill),
      decodeTokensPerSecond: median(rates),
      decodeP50Ms: quantile(gaps, 0.5),
      decodeP90Ms: quantile(gaps, 0.9),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      weightBytes,
      kvBytesPerToken: model.info.kvBytesPerToken,
    };
  } finally {
    await model.dispose();
  }
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2]) as CaseSpec & { weightBytes: number };
  measureCase(spec, spec.weightBytes).then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
