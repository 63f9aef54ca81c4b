/** Stable machine-readable codes of every error lckv raises. */
export type LckvErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_READ_FAILED'
  | 'TRUNCATED_FILE'
  | 'INVALID_SAFETENSORS'
  | 'UNSUPPORTED_DTYPE'
  | 'UNSAFE_CHECKPOINT'
  | 'INVALID_CONFIG'
  | 'UNSUPPORTED_MODEL'
  | 'INVALID_LAYER_TYPES'
  | 'MISSING_TENSOR'
  | 'SHAPE_MISMATCH'
  | 'INVALID_TOKENIZER'
  | 'NO_TOKENIZER'
  | 'TOKEN_OUT_OF_RANGE'
  | 'CONTEXT_OVERFLOW'
  | 'KV_BUDGET_EXCEEDED'
  | 'INVALID_ARGUMENT'
  | 'ABORTED'
  | 'DISPOSED'
  | 'BUSY'
  | 'OUT_OF_MEMORY'
  | 'NATIVE_LOAD_FAILED'
  | 'DEVICE_UNAVAILABLE'
  | 'CUDA_ERROR'
  | 'INTERNAL';

/** The one error type lckv throws (or rejects with). Switch on `code`, not on `message`. */
export class LckvError extends Error {
  readonly code: LckvErrorCode;

  constructor(code: LckvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LckvError';
    this.code = code;
  }
}

/** Re-throws an error from the native addon (an Error with a string `code`) as an LckvError. */
export function fromNative(err: unknown): LckvError {
  if (err instanceof LckvError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? (e.code as LckvErrorCode) : 'INTERNAL';
  return new LckvError(code, typeof e?.message === 'string' ? e.message : String(err), { cause: err });
}
