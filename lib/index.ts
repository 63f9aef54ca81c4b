export { loadModel, Model, DEFAULT_MODEL_DIR } from './model';
export type { LoadOptions, GenerateResult, StreamPiece, FinishReason, PerplexityOptions } from './model';
export type { GenerateOptions, PrefillOptions, PrefillMode } from './options';
export type { ModelInfo, LayerInfo, PlanStepInfo } from './info';
export { LckvError } from './errors';
export type { LckvErrorCode } from './errors';
