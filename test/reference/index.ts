// Independent reference implementation (float64, plain loops) used as ground truth by the tests.
export * from './model';
export * from './safetensors';
