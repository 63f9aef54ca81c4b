// Element-wise and row-wise kernels of a Llama block on the GPU: the contracts of
// kernels/cpu/ops.h with device pointers. Activations are f32; weights and the embedding
// table are read in their stored dtype. Every call is asynchronous on `stream`.
#pragma once
#include <cstdint>

#include "kernels/cpu/tensor_view.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/paged_kv.h"

namespace lckv::cuda {

// out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight, for n rows of width d.
void rmsnorm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n, int64_t d, float eps,
             cudaStream_t stream);

// Rotate-half RoPE in place on x[n, n_heads * head_dim]; row i at row_position(rows, i).
// inv_freq: device, head_dim / 2 doubles (angles in double, as on the CPU).
void rope_apply(float* x, int64_t n, int32_t n_heads, int32_t head_dim, const RowPositions& rows,
                const double* inv_freq, cudaStream_t stream);

// gate[i] = silu(gate[i]) * up[i].
void silu_mul(float* gate, const float* up, int64_t count, cudaStream_t stream);

// x[i] += y[i].
void add_inplace(float* x, const float* y, int64_t count, cudaStream_t stream);

// out[i, :] = row tokens[i] of table[rows, d] (data on the device), widened to f32.
// tokens: device, [n]; ids must be in range (the engine checks them on the host).
void embedding_gather(float* out, const int32_t* tokens, int64_t n, const WeightView& table, cudaStream_t stream);

// out[i] = the index of the largest of logits[i, 0 .. vocab), the lowest on ties (as
// lib/sampling.ts's greedy pick). out: device, [n].
void argmax_rows(int32_t* out, const float* logits, int64_t n, int64_t vocab, cudaStream_t stream);

// dst[i] = src[i] narrowed to dst_dtype (round to nearest even).
void convert_from_f32(void* dst, DType dst_dtype, const float* src, int64_t count, cudaStream_t stream);

}  // namespace lckv::cuda
