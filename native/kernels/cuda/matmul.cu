#include "kernels/cuda/matmul.h"

#include <string>

#include "common/error.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

#ifdef LCKV_HAVE_CUBLAS
#include <cublas_v2.h>
#endif

namespace lckv::cuda {

namespace {

// --- few input rows: one warp per weight row, the weights streamed once -----------------

constexpr int kRowsWarps = 8;
constexpr int kRowsChunk = 8;       // input rows accumulated in registers at a time
constexpr int64_t kRowsMaxN = 8;    // above this the tiled kernel reuses weights better

template <typename T>
__global__ void __launch_bounds__(kRowsWarps * 32)
    matmul_rows_kernel(float* y, const float* x, int64_t n, const T* w, int64_t rows, int64_t cols, bool aligned) {
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * kRowsWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const T* wr = w + r * cols;
  for (int64_t i0 = 0; i0 < n; i0 += kRowsChunk) {
    const int in = int(n - i0 < kRowsChunk ? n - i0 : kRowsChunk);
    float acc[kRowsChunk] = {};
    int64_t c = int64_t(lane) * 8;
    for (; c + 8 <= cols; c += 32 * 8) {
      float wf[8];
      load8(wr + c, aligned, wf);
#pragma unroll
      for (int i = 0; i < kRowsChunk; ++i) {
        if (i >= in) break;
        const float* xi = x + (i0 + i) * cols + c;
#pragma unroll
        for (int k = 0; k < 8; ++k) acc[i] += xi[k] * wf[k];
      }
    }
    for (; c < cols; ++c) {  // the last partial vector of this lane (cols % 8 != 0)
      const float wf = to_f32<T>(wr[c]);
      for (int i = 0; i < in; ++i) acc[i] += x[(i0 + i) * cols + c] * wf;
    }
#pragma unroll
    for (int i = 0; i < kRowsChunk; ++i) {
      if (i >= in) break;
      const float s = warp_sum(acc[i]);
      if (lane == 0) y[(i0 + i) * rows + r] = s;
    }
  }
}

// --- many input rows: 64 x 64 output tiles through shared memory ------------------------

constexpr int kTile = 64;
constexpr int kTileK = 16;
constexpr int kTileThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each

template <typename T>
__global__ void __launch_bounds__(kTileThreads)
    matmul_tiled_kernel(float* y, const float* x, int64_t n, const T* w, int64_t rows, int64_t cols) {
  __shared__ float xs[kTileK][kTile + 4];  // [k, input row]
  __shared__ float ws[kTileK][kTile + 4];  // [k, weight row]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t i0 = int64_t(blockIdx.y) * kTile, r0 = int64_t(blockIdx.x) * kTile;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < cols; k0 += kTileK) {
    // 64 x 16 values of each operand, 4 per thread, consecutive threads along k.
    for (int e = tid; e < kTile * kTileK; e += kTileThreads) {
      const int rr = e / kTileK, kk = e % kTileK;
      const int64_t c = k0 + kk;
      xs[kk][rr] = (i0 + rr < n && c < cols) ? x[(i0 + rr) * cols + c] : 0.0f;
      ws[kk][rr] = (r0 + rr < rows && c < cols) ? to_f32<T>(w[(r0 + rr) * cols + c]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) a[j] = xs[kk][ty * 4 + j], b[j] = ws[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t row = i0 + ty * 4 + i, col = r0 + tx * 4 + j;
      if (row < n && col < rows) y[row * rows + col] = acc[i][j];
    }
}

// --- cuBLAS ------------------------------------------------------------------------------

constexpr int64_t kCublasMinN = 32;  // below this the built-in kernels are bandwidth-bound anyway

#ifdef LCKV_HAVE_CUBLAS
// One handle per host thread, created on first use and kept for the thread's life
// (destroying it at process exit would race the driver's own teardown).
cublasHandle_t cublas_handle() {
  thread_local cublasHandle_t handle = nullptr;
  if (!handle && cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS)
    throw Error("CUDA_ERROR", "cublasCreate failed");
  return handle;
}

cudaDataType_t cublas_type(DType dtype) {
  return dtype == DType::F32 ? CUDA_R_32F : dtype == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

// Row-major y[n, R] = x[n, C] · w[R, C]ᵀ is column-major yᵀ[R, n] = w[C, R]ᵀ · xᵀ[C, n].
void matmul_cublas(float* y, const float* x, int64_t n, const WeightView& w, void* workspace, cudaStream_t stream) {
  const void* b = x;
  if (w.dtype != DType::F32) {  // cuBLAS wants both inputs in one type
    convert_from_f32(workspace, w.dtype, x, n * w.cols, stream);
    b = workspace;
  }
  cublasHandle_t handle = cublas_handle();
  if (cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS) throw Error("CUDA_ERROR", "cublasSetStream failed");
  const float one = 1.0f, zero = 0.0f;
  const cublasStatus_t status =
      cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, int(w.rows), int(n), int(w.cols), &one, w.data,
                   cublas_type(w.dtype), int(w.cols), b, cublas_type(w.dtype), int(w.cols), &zero, y, CUDA_R_32F,
                   int(w.rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("CUDA_ERROR", std::string("cublasGemmEx failed: ") + cublasGetStatusString(status));
}
#endif

}  // namespace

bool matmul_has_cublas() {
#ifdef LCKV_HAVE_CUBLAS
  return true;
#else
  return false;
#endif
}

MatmulPath matmul_path(int64_t n) {
  if (matmul_has_cublas() && n >= kCublasMinN) return MatmulPath::Cublas;
  return n <= kRowsMaxN ? MatmulPath::Rows : MatmulPath::Tiled;
}

size_t matmul_workspace(int64_t n, const WeightView& w) {
  if (matmul_path(n) != MatmulPath::Cublas || w.dtype == DType::F32) return 0;
  return size_t(n * w.cols) * dtype_size(w.dtype);
}

void matmul_builtin(float* y, const float* x, int64_t n, const WeightView& w, cudaStream_t stream) {
  if (n <= 0 || w.rows <= 0) return;
  const bool aligned = w.cols % 8 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
  dispatch_dtype(w.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* wd = static_cast<const T*>(w.data);
    if (n <= kRowsMaxN) {
      const unsigned blocks = unsigned((w.rows + kRowsWarps - 1) / kRowsWarps);
      matmul_rows_kernel<T><<<blocks, kRowsWarps * 32, 0, stream>>>(y, x, n, wd, w.rows, w.cols, aligned);
    } else {
      const dim3 grid(unsigned((w.rows + kTile - 1) / kTile), unsigned((n + kTile - 1) / kTile));
      matmul_tiled_kernel<T><<<grid, kTileThreads, 0, stream>>>(y, x, n, wd, w.rows, w.cols);
    }
  });
  check_launch("matmul");
}

void matmul(float* y, const float* x, int64_t n, const WeightView& w, void* workspace, size_t workspace_bytes,
            cudaStream_t stream) {
  if (n <= 0 || w.rows <= 0) return;
  if (matmul_path(n) != MatmulPath::Cublas) return matmul_builtin(y, x, n, w, stream);
  if (workspace_bytes < matmul_workspace(n, w))
    throw Error("INVALID_ARGUMENT", "matmul: workspace smaller than matmul_workspace()");
#ifdef LCKV_HAVE_CUBLAS
  matmul_cublas(y, x, n, w, workspace, stream);
#else
  (void)workspace;
#endif
}

}  // namespace lckv::cuda
