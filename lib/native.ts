import * as fs from 'node:fs';
import * as path from 'node:path';
import { LckvError } from './errors';

/** Internal shape of the addon's exports (native/addon/addon.cpp). */
export interface NativeModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  layerTypes: string;
  forwardPasses: number;
  backwardPasses: number;
  slidingWindow: number;
  useSequential: boolean;
  forceNodiag: boolean;
}

export interface NativeTensor {
  name: string;
  file: number;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  offset: number;
  nbytes: number;
}

export interface NativePlan {
  layers: { target: number; sliding: boolean; attendsTop: boolean; maskDiagonal: boolean; computesKv: boolean }[];
  cachedLayers: number[];
  steps: { begin: number; end: number; cyclic: boolean }[];
}

export interface NativeKvStats {
  blocksUsed: number;
  blocksTotal: number;
  /** Positions per block. */
  blockTokens: number;
  bytesTotal: number;
}

export interface NativeModel {
  plan(): NativePlan;
  parameterCount(): number;
  /** The KV pool's occupancy (answers after dispose too). */
  kvStats(): NativeKvStats;
  /** The prefill mode (1 iterative | 2 sequential) a run of `tokens` tokens in `mode` uses. */
  resolvePrefill(mode: number, tokens: number): number;
  dispose(): void;
}

export interface NativeSequence {
  /** Positions whose K/V are in the cache. */
  readonly length: number;
  /** KV blocks this sequence holds. */
  readonly blocks: number;
  run(tokens: Int32Array, mode: number, passes: number, allLogits: boolean): Promise<Float32Array>;
  /**
   * A scoring prefill of `tokens` that returns each position's negative log-likelihood of
   * its target (`targets[i]`, a token id, or -1 for NaN) instead of the logits.
   */
  score(tokens: Int32Array, mode: number, passes: number, targets: Int32Array): Promise<Float64Array>;
  /** Takes the KV blocks for positions [0, positions) now; throws KV_BUDGET_EXCEEDED taking none. */
  reserve(positions: number): void;
  /** Frees the sequence's blocks; it restarts at position 0 (preemption). */
  reset(): void;
  release(): void;
  cancel(): void;
}

export interface NativeAddon {
  NativeModel: new (
    config: NativeModelConfig,
    files: string[],
    tensors: NativeTensor[],
    options: { device: NativeDevice; threads: number; kvDtype: string; kvBytes: number; kvTokens: number },
  ) => NativeModel;
  NativeSequence: new (model: NativeModel) => NativeSequence;
  /**
   * One new token for each sequence, as one forward pass; logits [sequences, vocab], or only
   * of the sequences whose `wantLogits` flag is 1 (in order). With `reuse` large enough, the
   * result is a view of its buffer, written while the step runs: whatever it held is
   * overwritten, and it must not be read or reused until the promise settles.
   */
  decodeBatch(sequences: NativeSequence[], tokens: Int32Array, wantLogits?: Uint8Array, reuse?: Float32Array): Promise<Float32Array>;
  /**
   * Draws a token from one row of logits (native/engine/sampler.h): `settings` holds
   * temperature, topK, topP, minP and repetitionPenalty; `seen` the distinct ids the penalty
   * applies to; `rng` the PRNG state, advanced in place.
   */
  sampleToken(logits: Float32Array, settings: Float64Array, seen: Int32Array, rng: Uint32Array): number;
  isa: CpuIsa;
  /** The CUDA device this addon would run on; null without a CUDA build or a usable device. */
  cudaDevice(): NativeCudaDevice | null;
  /** The hardware probes of native/bench on a pool of `threads`, for the kernels benchmark. */
  probeHardware(options: NativeProbeOptions): Promise<NativeProbeResult>;
}

/**
 * The CPU kernels' instruction-set path, chosen once when the addon loads: the best exact
 * path the CPU offers, or another it offers named by the LCKV_ISA environment variable.
 * 'avx512' (AVX-512F matmul, AVX2 elsewhere), 'avx2' (AVX2+FMA+F16C), 'neon' (arm64),
 * 'generic' (portable C++); 'avx512bf16' only when named: 'avx512' plus bf16 dot products
 * for BF16 weights, which round activations to bf16 (faster, no longer the same bits).
 */
export type CpuIsa = 'generic' | 'avx2' | 'avx512' | 'avx512bf16' | 'neon';

/** Where an engine runs. */
export type NativeDevice = 'cpu' | 'cuda';

export interface NativeCudaDevice {
  name: string;
  /** e.g. '9.0' */
  computeCapability: string;
  memoryBytes: number;
}

export interface NativeProbeOptions {
  threads: number;
  /** f32 elements of each of the triad's three arrays. */
  triadElements: number;
  /** x [m, k] · w [n, k]ᵀ through the engine's matmul with f32 weights. */
  matmul: [m: number, n: number, k: number];
  /** Steps of the register-only multiply-add loop, per thread. */
  fmaIterations: number;
  /** Decode attention over paged f16 K/V: `batch` rows at position context - 1, for each of `batches`. */
  attention: { shape: [heads: number, kvHeads: number, headDim: number]; context: number; batches: number[] };
  reps: number;
}

/** Seconds of each repetition, and the bytes or flops one repetition counts. */
export interface NativeProbeResult {
  isa: CpuIsa;
  threads: number;
  triad: { seconds: number[]; bytes: number };
  /** Read-only sum over one array of triadElements f32 values. */
  read: { seconds: number[]; bytes: number };
  matmul: { seconds: number[]; flops: number };
  fma: { seconds: number[]; flops: number };
  /** Per batch of `attention.batches`: seconds of each call, K/V bytes one call reads. */
  attention: { batch: number; seconds: number[]; bytes: number }[];
}

let cached: NativeAddon | undefined;

/** Loads the addon: a prebuild for this platform, else the local build (node-gyp-build). */
export function native(): NativeAddon {
  if (cached) return cached;
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require('node-gyp-build')(root) as NativeAddon;
  } catch (err) {
    throw new LckvError(
      'NATIVE_LOAD_FAILED',
      `lckv: no native addon for ${process.platform}-${process.arch} (node ${process.version}). ` +
        'No prebuild fits this machine and none was compiled. Build it with `npm rebuild lckv` ' +
        '(or approve the install script: `npm install-scripts approve lckv`); it needs python3, make and a C++17 compiler.',
      { cause: err },
    );
  }
  return cached;
}

/**
 * Where the CUDA addon is looked for: $LCKV_CUDA_ADDON, else build-cuda/Release/lckv.node
 * (`npm run build:cuda`). Never build/Release: node-gyp-build would take it for the CPU
 * addon (docs/cuda.md).
 */
export function cudaAddonPath(): string {
  return process.env.LCKV_CUDA_ADDON || path.join(__dirname, '..', 'build-cuda', 'Release', 'lckv.node');
}

export type CudaLookup = { addon: NativeAddon; device: NativeCudaDevice } | { reason: string };

/** Looked up once per path: loading an addon twice would not load it again anyway. */
const cudaLookups = new Map<string, CudaLookup>();

/** The CUDA addon and its device, or why there is none (never throws: 'auto' falls back to the CPU). */
export function cudaNative(): CudaLookup {
  const file = cudaAddonPath();
  let found = cudaLookups.get(file);
  if (!found) {
    found = lookUpCuda(file);
    cudaLookups.set(file, found);
  }
  return found;
}

function lookUpCuda(file: string): CudaLookup {
  if (!fs.existsSync(file)) return { reason: `no CUDA addon at ${file}` };
  let addon: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
  } catch (err) {
    // Typically libcudart or the driver missing on this machine.
    return { reason: `the CUDA addon at ${file} does not load (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof addon.cudaDevice !== 'function') return { reason: `${file} is not an lckv addon` };
  const device = addon.cudaDevice();
  if (!device) return { reason: `the CUDA addon at ${file} was built without CUDA, or this machine has no usable CUDA device (or driver)` };
  return { addon, device };
}

/** The addon of a device choice: 'auto' is CUDA when its addon loads and reports a device, else the CPU. */
export function nativeFor(device: 'auto' | NativeDevice): { addon: NativeAddon; device: NativeDevice; cudaDevice?: NativeCudaDevice } {
  if (device === 'cpu') return { addon: native(), device: 'cpu' };
  const cuda = cudaNative();
  if ('addon' in cuda) return { addon: cuda.addon, device: 'cuda', cudaDevice: cuda.device };
  if (device === 'auto') return { addon: native(), device: 'cpu' };
  throw new LckvError(
    'DEVICE_UNAVAILABLE',
    `device 'cuda' is unavailable: ${cuda.reason}. Build the CUDA addon with \`npm run build:cuda\` ` +
      '(needs the CUDA toolkit and CMake; docs/cuda.md) on a machine with an NVIDIA GPU, or use device \'cpu\' or \'auto\'.',
  );
}
