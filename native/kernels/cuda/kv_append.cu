#include "kernels/cuda/kv_append.h"

#include "kernels/cuda/common.cuh"

namespace lckv::cuda {

namespace {

constexpr unsigned kThreads = 256;

// One thread per (row, element): k and v share the index arithmetic.
__global__ void kv_append_kernel(PagedKv kv, const float* k, const float* v, int64_t n, RowPositions rows) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * kv.row_stride) return;
  const int64_t i = idx / kv.row_stride, c = idx % kv.row_stride;
  const int64_t dst = paged_row(kv, row_sequence(rows, i), row_position(rows, i)) * kv.row_stride + c;
  store_f32(kv.k, kv.dtype, dst, k[idx]);
  store_f32(kv.v, kv.dtype, dst, v[idx]);
}

__global__ void kv_zero_kernel(PagedKv kv, int64_t pos0, int64_t n) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * kv.row_stride) return;
  const int64_t i = idx / kv.row_stride, c = idx % kv.row_stride;
  const int64_t dst = paged_row(kv, 0, pos0 + i) * kv.row_stride + c;
  store_f32(kv.k, kv.dtype, dst, 0.0f);
  store_f32(kv.v, kv.dtype, dst, 0.0f);
}

}  // namespace

void kv_append(const PagedKv& kv, const float* k, const float* v, int64_t n, const RowPositions& rows,
               cudaStream_t stream) {
  const int64_t count = n * kv.row_stride;
  if (count <= 0) return;
  kv_append_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(kv, k, v, n, rows);
  check_launch("kv_append");
}

void kv_zero(const PagedKv& kv, int64_t pos0, int64_t n, cudaStream_t stream) {
  const int64_t count = n * kv.row_stride;
  if (count <= 0) return;
  kv_zero_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(kv, pos0, n);
  check_launch("kv_zero");
}

}  // namespace lckv::cuda
