// y[n, w.rows] = x[n, w.cols] · wᵀ with w packed in panels (packed_weight.h), read in its
// stored dtype (F32/F16/BF16), accumulation in f32. Every output is one multiply-add chain
// over the columns in ascending order, whatever n is and however the work is split, so a
// row's result does not depend on its batch or on the thread count.
#pragma once
#include <cstdint>

#include "kernels/cpu/packed_weight.h"
#include "kernels/cpu/tensor_view.h"
#include "kernels/cpu/thread_pool.h"

namespace lckv {

void matmul(float* y, const float* x, int64_t n, const PackedView& w, ThreadPool& pool);

// Several products of the same x in one dispatch (q/k/v, gate/up): one wake-up of the pool
// instead of one per matrix, with the threads' shares balanced over all of them. Each
// y is exactly what matmul() gives.
struct MatmulOut {
  float* y;
  PackedView w;
};
void matmul_many(const MatmulOut* outs, int32_t count, const float* x, int64_t n, ThreadPool& pool);

// Plain reference on the unpacked matrix (double accumulation), for tests.
void matmul_reference(float* y, const float* x, int64_t n, const WeightView& w);

// Per-ISA panel kernels: the outputs of panels [p0, p1) of w for all n rows of x.
void matmul_panels_generic(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1);
void matmul_panels_avx2(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1);
void matmul_panels_avx512(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1);

// The avx512bf16 path's kernel for BF16 weights with an even column count (bf16_dot_applies):
// x_bf16 is x rounded to bf16 (n rows of w.cols), and each vdpbf16ps adds two columns'
// products to an output. The chain per output is fixed (column pairs in ascending order),
// so results stay batch- and thread-invariant, but differ from the f32-x paths.
bool bf16_dot_applies(const PackedView& w);
void matmul_panels_avx512bf16(float* y, const uint16_t* x_bf16, int64_t n, const PackedView& w, int64_t p0, int64_t p1);
void round_to_bf16_avx512(uint16_t* out, const float* x, int64_t count);  // f32_to_bf16, 16 lanes at a time
void matmul_panels_neon(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1);

}  // namespace lckv
