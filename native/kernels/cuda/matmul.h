// y[n, w.rows] = x[n, w.cols] · wᵀ on the GPU: the contract of kernels/cpu/matmul.h with
// device pointers (x and y f32, w in its stored dtype, f32 accumulation).
//
// Two implementations: cuBLAS (tensor cores) when the build found it and n is large enough
// to be compute-bound, else the built-in kernels (a warp per weight row for a few input
// rows, where the product is bound by reading the weights once; a shared-memory tiled GEMM
// otherwise). The cuBLAS path rounds x to the weight dtype first (F16/BF16 inputs, f32
// accumulation and output), so it differs from the CPU by about that rounding.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/tensor_view.h"
#include "kernels/cuda/device.h"

namespace lckv::cuda {

enum class MatmulPath { Rows, Tiled, Cublas };

// Which implementation matmul() uses for this shape.
MatmulPath matmul_path(int64_t n);
// True when this build links cuBLAS.
bool matmul_has_cublas();

// Bytes of device workspace matmul() needs for this shape (x narrowed for cuBLAS; else 0).
size_t matmul_workspace(int64_t n, const WeightView& w);

// w.data is device memory. workspace: device, matmul_workspace(n, w) bytes.
void matmul(float* y, const float* x, int64_t n, const WeightView& w, void* workspace, size_t workspace_bytes,
            cudaStream_t stream);

// The built-in kernels whatever the shape (tests and benchmarks compare the paths).
void matmul_builtin(float* y, const float* x, int64_t n, const WeightView& w, cudaStream_t stream);

}  // namespace lckv::cuda
