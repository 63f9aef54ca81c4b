export { loadModel, Model, DEFAULT_MODEL_DIR } from './model';
export type { LoadOptions, GenerateResult, StreamPiece, FinishReason, PerplexityOptions } from './model';
export type { GenerateOptions, PrefillOptions, PrefillMode } from './options';
export type { ModelInfo, LayerInfo, PlanStepInfo } from './info';
export { LckvError } from './errors';
export type { LckvErrorCode } from './errors';
export { createServer, ChatTemplate, loadChatTemplate } from './server';
export type { ServerOptions, ChatMessage } from './server';
export type { AdmissionPolicy, EngineStats } from './engine/scheduler';
