import { LckvError } from './errors';
import type { NativeModelConfig } from './native';

/** config.json exactly as written in the checkpoint directory. */
export type RawConfig = Readonly<Record<string, unknown>>;

export interface ParsedConfig {
  modelType: 'llama' | 'lckv-llama';
  native: NativeModelConfig;
  bosTokenId: number | undefined;
  eosTokenIds: number[];
}

const LAYER_TYPES = /^\d+s?(_\d+s?)*$/;

function bad(message: string): never {
  throw new LckvError('INVALID_CONFIG', `config.json: ${message}`);
}

const INT32_MAX = 2 ** 31 - 1;

function int(raw: RawConfig, key: string, fallback?: number, min = 1): number {
  const v = raw[key] ?? fallback;
  if (v === undefined) bad(`${key} is required`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > INT32_MAX)
    bad(`${key} must be an integer in [${min}, ${INT32_MAX}], got ${JSON.stringify(v)}`);
  return v;
}

function positive(raw: RawConfig, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function flag(raw: RawConfig, key: string): boolean {
  const v = raw[key] ?? false;
  if (typeof v !== 'boolean') bad(`${key} must be true or false`);
  return v;
}

function tokenIds(v: unknown, key: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) if (!Number.isSafeInteger(id) || (id as number) < 0) bad(`${key} must be token ids`);
  return list as number[];
}

/** Validates config.json and maps it to what the engine needs (ARCHITECTURE §3-4). */
export function parseConfig(raw: RawConfig): ParsedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be a JSON object');
  const modelType = raw.model_type;
  if (modelType !== 'llama' && modelType !== 'lckv-llama')
    throw new LckvError('UNSUPPORTED_MODEL', `model_type ${JSON.stringify(modelType)} is not supported (llama, lckv-llama)`);
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null)
    throw new LckvError('UNSUPPORTED_MODEL', 'rope_scaling is not supported yet');
  for (const key of ['attention_bias', 'mlp_bias'])
    if (raw[key] === true) throw new LckvError('UNSUPPORTED_MODEL', `${key} is not supported`);

  const numLayers = int(raw, 'num_hidden_layers');
  const numHeads = int(raw, 'num_attention_heads');
  const hiddenSize = int(raw, 'hidden_size');
  const numKvHeads = int(raw, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) bad('num_attention_heads must be a multiple of num_key_value_heads');
  const headDim = int(raw, 'head_dim', Math.floor(hiddenSize / numHeads));
  if (headDim % 2 !== 0) bad('head_dim must be even (rotary embedding)');

  let layerTypes = '';
  if (modelType === 'lckv-llama' && raw.layer_types !== undefined && raw.layer_types !== null) {
    const lt = raw.layer_types;
    if (typeof lt !== 'string' || !LAYER_TYPES.test(lt))
      throw new LckvError('INVALID_LAYER_TYPES', `layer_types ${JSON.stringify(lt)} must match ${LAYER_TYPES.source}`);
    const entries = lt.split('_').map((e) => Number.parseInt(e, 10));
    if (entries.length !== numLayers)
      throw new LckvError('INVALID_LAYER_TYPES', `layer_types has ${entries.length} entries for ${numLayers} layers`);
    const outside = entries.find((u) => u >= numLayers);
    if (outside !== undefined) throw new LckvError('INVALID_LAYER_TYPES', `layer_types entry ${outside} is not a layer index`);
    layerTypes = lt;
  }
  const lckv = modelType === 'lckv-llama';
  const maxPositions = int(raw, 'max_position_embeddings', 2048);
  const native: NativeModelConfig = {
    vocabSize: int(raw, 'vocab_size'),
    hiddenSize,
    intermediateSize: int(raw, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositions,
    rmsNormEps: positive(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: positive(raw, 'rope_theta', 10000),
    tieWordEmbeddings: flag(raw, 'tie_word_embeddings'),
    layerTypes,
    forwardPasses: lckv ? int(raw, 'forward_passes', 7, 0) : 7,
    backwardPasses: lckv ? int(raw, 'backward_passes', 2, 0) : 2,
    slidingWindow: lckv ? int(raw, 'sliding_window', 4096) : maxPositions,
    useSequential: lckv ? flag(raw, 'use_sequential') : false,
    forceNodiag: lckv ? flag(raw, 'force_nodiag') : false,
  };
  if (native.forwardPasses + native.backwardPasses < 1) bad('forward_passes + backward_passes must be at least 1');
  const bos = raw.bos_token_id;
  return {
    modelType,
    native,
    bosTokenId: typeof bos === 'number' && Number.isSafeInteger(bos) ? bos : undefined,
    eosTokenIds: tokenIds(raw.eos_token_id, 'eos_token_id'),
  };
}
