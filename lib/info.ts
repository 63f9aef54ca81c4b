import type { ParsedConfig, RawConfig } from './config';
import type { CpuIsa, NativeCudaDevice, NativeDevice, NativePlan } from './native';

/** What one layer does in the layer-condensed plan. */
export interface LayerInfo {
  /** Index of this layer. */
  layer: number;
  /** The layer whose K/V this layer's queries attend to (u(i) in the paper). */
  attendsTo: number;
  /** True when attendsTo > layer: the current token's K/V is not visible (diagonal masked). */
  attendsTop: boolean;
  /** True when the diagonal is masked (attendsTop, or force_nodiag in the config). */
  maskDiagonal: boolean;
  /** Sliding-window attention over the last `slidingWindow` positions. */
  sliding: boolean;
  /** Some layer attends to this one, so it computes K/V and is cached. */
  cached: boolean;
}

/** A step of the prefill plan: layers [begin, end) run together; cyclic steps run iteratively. */
export interface PlanStepInfo {
  begin: number;
  end: number;
  cyclic: boolean;
}

export interface ModelInfo {
  /** config.json as written in the checkpoint. */
  config: RawConfig;
  modelType: 'llama' | 'lckv-llama';
  /** The layer plan: one entry per layer. */
  layerPlan: LayerInfo[];
  /** Layers whose K/V is cached, ascending. */
  cachedLayers: number[];
  /** How a prompt is prefilled: ordinary segments once, cyclic groups iteratively. */
  prefillPlan: PlanStepInfo[];
  /** Bytes of KV cache per token of context for this model at the chosen KV dtype. */
  kvBytesPerToken: number;
  /** The same figure for a standard transformer of this shape (every layer cached). */
  kvBytesPerTokenStandard: number;
  kvDtype: 'f16' | 'f32' | 'bf16';
  /** Number of weights in the checkpoint. */
  parameters: number;
  contextLength: number;
  vocabSize: number;
  /** Sliding window of the layers marked 's' in layer_types. */
  slidingWindow: number;
  /** Whether a tokenizer.json was found (else the model works on token ids only). */
  hasTokenizer: boolean;
  /** CPU instruction-set path the kernels run. */
  isa: CpuIsa;
  threads: number;
  /** Where the forward pass runs ('auto' resolved). */
  device: NativeDevice;
  /** The GPU when device is 'cuda'. */
  cudaDevice?: NativeCudaDevice;
}

export function buildInfo(
  raw: RawConfig,
  parsed: ParsedConfig,
  plan: NativePlan,
  extra: {
    parameters: number;
    kvDtype: 'f16' | 'f32' | 'bf16';
    hasTokenizer: boolean;
    isa: CpuIsa;
    threads: number;
    device: NativeDevice;
    cudaDevice?: NativeCudaDevice;
  },
): ModelInfo {
  const c = parsed.native;
  const bytesPerLayer = 2 * c.numKvHeads * c.headDim * (extra.kvDtype === 'f32' ? 4 : 2);
  return {
    config: raw,
    modelType: parsed.modelType,
    layerPlan: plan.layers.map((l, i) => ({
      layer: i,
      attendsTo: l.target,
      attendsTop: l.attendsTop,
      maskDiagonal: l.maskDiagonal,
      sliding: l.sliding,
      cached: l.computesKv,
    })),
    cachedLayers: plan.cachedLayers,
    prefillPlan: plan.steps,
    kvBytesPerToken: plan.cachedLayers.length * bytesPerLayer,
    kvBytesPerTokenStandard: c.numLayers * bytesPerLayer,
    kvDtype: extra.kvDtype,
    parameters: extra.parameters,
    contextLength: c.maxPositions,
    vocabSize: c.vocabSize,
    slidingWindow: c.slidingWindow,
    hasTokenizer: extra.hasTokenizer,
    isa: extra.isa,
    threads: extra.threads,
    device: extra.device,
    ...(extra.cudaDevice ? { cudaDevice: extra.cudaDevice } : {}),
  };
}
