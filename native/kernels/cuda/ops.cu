#include "kernels/cuda/ops.h"

#include <climits>

#include "kernels/cuda/common.cuh"

namespace lckv::cuda {

namespace {

constexpr unsigned kThreads = 256;

// One block per row: the sum of squares is reduced over the block.
__global__ void rmsnorm_kernel(float* out, const float* x, const void* weight, DType wdt, int64_t d, float eps) {
  __shared__ float scratch[32];
  const float* xi = x + blockIdx.x * d;
  float sum_sq = 0;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) sum_sq += xi[c] * xi[c];
  sum_sq = block_sum(sum_sq, scratch);
  const float inv = rsqrtf(sum_sq / float(d) + eps);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) out[blockIdx.x * d + c] = xi[c] * inv * load_f32(weight, wdt, c);
}

// One thread per (row, head, frequency): rotates the pair (f, f + half) of that head.
__global__ void rope_kernel(float* x, int64_t n, int32_t n_heads, int32_t head_dim, RowPositions rows,
                            const double* inv_freq) {
  const int32_t half = head_dim / 2;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * n_heads * half) return;
  const int32_t f = int32_t(idx % half);
  const int64_t row_head = idx / half, i = row_head / n_heads;
  const double angle = double(row_position(rows, i)) * inv_freq[f];
  const float c = float(cos(angle)), s = float(sin(angle));
  float* head = x + row_head * head_dim;
  const float a = head[f], b = head[f + half];
  head[f] = a * c - b * s;
  head[f + half] = b * c + a * s;
}

__global__ void silu_mul_kernel(float* gate, const float* up, int64_t count) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = gate[i];
  gate[i] = g / (1.0f + expf(-g)) * up[i];
}

__global__ void add_kernel(float* x, const float* y, int64_t count) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void embedding_kernel(float* out, const int32_t* tokens, int64_t n, const void* table, DType dtype,
                                 int64_t d) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * d) return;
  const int64_t i = idx / d, c = idx % d;
  out[idx] = load_f32(table, dtype, int64_t(tokens[i]) * d + c);
}

// (value, index) a ranks before (value, index) b: higher value, then lower index.
__device__ __forceinline__ bool ranks_before(float va, int32_t ia, float vb, int32_t ib) {
  return va > vb || (va == vb && ia < ib);
}

// One block per row. NaN never wins (it compares false), as in lib/sampling.ts.
__global__ void argmax_kernel(int32_t* out, const float* logits, int64_t vocab) {
  __shared__ float best_v[32];
  __shared__ int32_t best_i[32];
  const float* row = logits + blockIdx.x * vocab;
  float v = -INFINITY;
  int32_t idx = INT_MAX;
  for (int64_t c = threadIdx.x; c < vocab; c += blockDim.x)
    if (ranks_before(row[c], int32_t(c), v, idx)) v = row[c], idx = int32_t(c);
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ranks_before(ov, oi, v, idx)) v = ov, idx = oi;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) best_v[warp] = v, best_i[warp] = idx;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x >> 5); ++w)
      if (ranks_before(best_v[w], best_i[w], v, idx)) v = best_v[w], idx = best_i[w];
    out[blockIdx.x] = idx == INT_MAX ? 0 : idx;  // every value NaN: the first, as the CPU picks
  }
}

__global__ void convert_kernel(void* dst, DType dtype, const float* src, int64_t count) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) store_f32(dst, dtype, i, src[i]);
}

}  // namespace

void rmsnorm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n, int64_t d, float eps,
             cudaStream_t stream) {
  if (n <= 0) return;
  rmsnorm_kernel<<<unsigned(n), kThreads, 0, stream>>>(out, x, weight, weight_dtype, d, eps);
  check_launch("rmsnorm");
}

void rope_apply(float* x, int64_t n, int32_t n_heads, int32_t head_dim, const RowPositions& rows,
                const double* inv_freq, cudaStream_t stream) {
  const int64_t count = n * n_heads * (head_dim / 2);
  if (count <= 0) return;
  rope_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(x, n, n_heads, head_dim, rows, inv_freq);
  check_launch("rope_apply");
}

void silu_mul(float* gate, const float* up, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  silu_mul_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(gate, up, count);
  check_launch("silu_mul");
}

void add_inplace(float* x, const float* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  add_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(x, y, count);
  check_launch("add_inplace");
}

void embedding_gather(float* out, const int32_t* tokens, int64_t n, const WeightView& table, cudaStream_t stream) {
  const int64_t count = n * table.cols;
  if (count <= 0) return;
  embedding_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(out, tokens, n, table.data, table.dtype,
                                                                        table.cols);
  check_launch("embedding_gather");
}

void argmax_rows(int32_t* out, const float* logits, int64_t n, int64_t vocab, cudaStream_t stream) {
  if (n <= 0) return;
  argmax_kernel<<<unsigned(n), kThreads, 0, stream>>>(out, logits, vocab);
  check_launch("argmax_rows");
}

void convert_from_f32(void* dst, DType dst_dtype, const float* src, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  convert_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(dst, dst_dtype, src, count);
  check_launch("convert_from_f32");
}

}  // namespace lckv::cuda
