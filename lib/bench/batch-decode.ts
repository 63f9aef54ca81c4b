import type { Model } from '../model';
import type { GenerateOptions } from '../options';

function prompt(n: number, vocab: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + 13) % vocab);
}

/**
 * Aggregate decode tokens/s of exactly `batch` sequences decoding together through the
 * engine (one batched forward pass per step). All start at once, so the scheduler prefills
 * them all before its first batched step; the clock runs from the step that gave every
 * sequence its 2nd token to the one that gave its last, `steps` whole steps, so neither
 * prefill nor a step begun before the clock is counted. Throws when the sequences did not
 * all decode together (a KV budget or maxBatch too small for `batch`): the figure would
 * describe smaller batches. Greedy unless `sampling` says otherwise (sequence r gets seed r).
 */
export async function batchDecodeRate(
  model: Model,
  batch: number,
  steps: number,
  seed = 1000,
  sampling: GenerateOptions = { temperature: 0 },
): Promise<number> {
  const vocab = model.info.vocabSize;
  const times = await Promise.all(
    Array.from({ length: batch }, async (_, r) => {
      const stamps: number[] = [];
      for await (const _piece of model.stream(prompt(8, vocab, seed + r), { ...sampling, seed: r, maxTokens: steps + 2 })) stamps.push(performance.now());
      if (stamps.length !== steps + 2) throw new Error(`a benchmark sequence stopped after ${stamps.length} of ${steps + 2} tokens`);
      return { second: stamps[1], last: stamps[stamps.length - 1] };
    }),
  );
  const start = Math.max(...times.map((t) => t.second));
  const end = Math.max(...times.map((t) => t.last));
  if (start >= Math.min(...times.map((t) => t.last)))
    throw new Error(`the ${batch} benchmark sequences did not all decode together (KV budget or maxBatch too small)`);
  return (batch * steps * 1000) / (end - start);
}
