// Element-wise and row-wise kernels of a Llama block. All activations are f32.
#pragma once
#include <cstdint>

#include "kernels/cpu/tensor_view.h"

namespace lckv {

// out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight, for n rows of width d.
void rmsnorm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n, int64_t d, float eps);

// Rotate-half RoPE. The angles of a position are computed once per forward pass (every
// layer rotates by them): angles[head_dim] = cos, then sin, of position * inv_freq[f] for
// f < head_dim / 2 (the product in double, then rounded). inv_freq has head_dim / 2 entries.
void rope_angles(float* angles, int64_t position, int32_t head_dim, const double* inv_freq);
// Rotates x[n, n_heads * head_dim] in place, row i by angles[i * head_dim ...].
void rope_rotate(float* x, int64_t n, int32_t n_heads, int32_t head_dim, const float* angles);
// Both, for rows at positions pos0 + i (a CPU reference for other devices' kernels).
void rope_apply(float* x, int64_t n, int32_t n_heads, int32_t head_dim, int64_t pos0, const double* inv_freq);

// gate[i] = silu(gate[i]) * up[i], on the active ISA path; each element's value does not
// depend on count or on where it sits in the array.
void silu_mul(float* gate, const float* up, int64_t count);
void silu_mul_generic(float* gate, const float* up, int64_t count);
void silu_mul_avx2(float* gate, const float* up, int64_t count);

// x[i] += y[i].
void add_inplace(float* x, const float* y, int64_t count);

// out[d] = row `index` of table[rows, d], widened to f32.
void embedding_row(float* out, const WeightView& table, int64_t index);

// Widens or narrows a contiguous run of values between dtypes.
void convert_to_f32(float* out, const void* src, DType src_dtype, int64_t count);
void convert_from_f32(void* dst, DType dst_dtype, const float* src, int64_t count);

}  // namespace lckv
