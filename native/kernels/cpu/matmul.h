// y[n, w.rows] = x[n, w.cols] · wᵀ, weights read in their stored dtype (F32/F16/BF16),
// accumulation in f32. Every (x row, w row) dot product is computed by the same
// instruction sequence whatever n is, so a row's result does not depend on its batch.
#pragma once
#include <cstdint>

#include "kernels/cpu/tensor_view.h"
#include "kernels/cpu/thread_pool.h"

namespace lckv {

void matmul(float* y, const float* x, int64_t n, const WeightView& w, ThreadPool& pool);

// Several products of the same x in one dispatch (q/k/v, gate/up): one wake-up of the pool
// instead of one per matrix, with the threads' shares balanced over all of them. Each
// y is exactly what matmul() gives.
struct MatmulOut {
  float* y;
  WeightView w;
};
void matmul_many(const MatmulOut* outs, int32_t count, const float* x, int64_t n, ThreadPool& pool);

// Plain reference (double accumulation) for tests.
void matmul_reference(float* y, const float* x, int64_t n, const WeightView& w);

// Per-ISA row kernels: compute columns [r0, r1) of y for all n rows of x.
void matmul_rows_generic(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1);
void matmul_rows_avx2(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1);
void matmul_rows_neon(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1);

}  // namespace lckv
