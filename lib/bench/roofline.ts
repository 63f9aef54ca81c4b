import type { RandomShape, WeightDtype } from './random-checkpoint';

/** A standard Llama shape: every layer computes its own K/V (no LCKV layer types). */
export type LlamaShape = Omit<RandomShape, 'layerTypes' | 'forwardPasses' | 'backwardPasses'>;

const DTYPE_BYTES: Record<WeightDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Weights of one layer's linear maps: q, k, v, o, gate, up, down. */
export function layerMatrixParams(s: LlamaShape): number {
  const headDim = s.hiddenSize / s.numHeads;
  const q = s.hiddenSize * s.numHeads * headDim;
  const kv = 2 * s.hiddenSize * s.numKvHeads * headDim;
  const o = s.numHeads * headDim * s.hiddenSize;
  const mlp = 3 * s.hiddenSize * s.intermediateSize;
  return q + kv + o + mlp;
}

/**
 * Weight bytes one decode step reads for one sequence: every layer's matrices and norms,
 * the final norm, lm_head, and one embedding row (the rest of the embedding is not read).
 * K/V cache reads are not counted: at the benchmark's short contexts they are under 1%.
 */
export function decodeWeightBytes(s: LlamaShape, dtype: WeightDtype): number {
  const layers = s.numLayers * (layerMatrixParams(s) + 2 * s.hiddenSize);  // + input and post-attention norms
  const finalNorm = s.hiddenSize;
  const lmHead = s.vocabSize * s.hiddenSize;
  const embeddingRow = s.hiddenSize;
  return (layers + finalNorm + lmHead + embeddingRow) * DTYPE_BYTES[dtype];
}

/**
 * The matrix work one decoded token needs, in flops: 2 per weight of every layer's linear
 * maps and of lm_head (attention over the benchmark's short contexts is left out, as
 * in decodeWeightBytes). A batch of B sequences does B times this per step.
 */
export function decodeFlops(s: LlamaShape): number {
  return 2 * (s.numLayers * layerMatrixParams(s) + s.vocabSize * s.hiddenSize);
}

/**
 * The matrix work a prefill of n tokens needs, in flops: 2·n·(layer matrix weights) per
 * layer, causal attention 2·2·heads·headDim·n(n+1)/2 per layer (QKᵀ and PV over the
 * positions each query may see), and lm_head for the last position only (2·vocab·hidden).
 */
export function prefillFlops(s: LlamaShape, n: number): number {
  const linear = 2 * n * layerMatrixParams(s);
  const attention = 2 * s.hiddenSize * n * (n + 1);
  return s.numLayers * (linear + attention) + 2 * s.vocabSize * s.hiddenSize;
}
