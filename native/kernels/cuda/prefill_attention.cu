#include "kernels/cuda/prefill_attention.h"

#include "common/error.h"
#include "kernels/cuda/common.cuh"

namespace lckv::cuda {

namespace {

constexpr int kRowsPerTile = 16;   // query rows of a block
constexpr int kKeysPerTile = 32;   // positions loaded per step (one per lane in the softmax)
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr size_t kDefaultShared = 48 * 1024;

size_t shared_bytes(int32_t hd) {
  return sizeof(float) * (size_t(kRowsPerTile) * hd          // queries
                          + size_t(kKeysPerTile) * (hd + 1)  // keys, padded against bank conflicts
                          + size_t(kKeysPerTile) * hd        // values
                          + size_t(kRowsPerTile) * kKeysPerTile  // scores, then weights
                          + size_t(kRowsPerTile) * hd        // output accumulators
                          + 3 * size_t(kRowsPerTile));       // running max, sum, rescale factor
}

__device__ __forceinline__ void span_of(int64_t t, const AttentionMask& mask, int64_t* lo, int64_t* hi) {
  *hi = mask.no_diag ? t - 1 : t;
  *lo = mask.window > 0 && t - mask.window + 1 > 0 ? t - mask.window + 1 : 0;
}

// One block per (tile of kRowsPerTile query rows, query head). Keys and values of the
// positions any row of the tile can see stream through shared memory kKeysPerTile at a
// time; each row keeps a running max and sum (online softmax), so the scores of a whole
// row never need to be held.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    prefill_kernel(float* out, const float* q, int64_t n, int64_t pos0, PagedKv kv, int32_t n_heads,
                   int32_t n_kv_heads, int32_t hd, AttentionMask mask) {
  extern __shared__ float smem[];
  float* qs = smem;                               // [rows, hd], pre-scaled
  float* ks = qs + kRowsPerTile * hd;             // [keys, hd + 1]
  float* vs = ks + kKeysPerTile * (hd + 1);       // [keys, hd]
  float* sc = vs + kKeysPerTile * hd;             // [rows, keys]
  float* acc = sc + kRowsPerTile * kKeysPerTile;  // [rows, hd]
  float* row_max = acc + kRowsPerTile * hd;       // [rows]
  float* row_sum = row_max + kRowsPerTile;        // [rows]
  float* rescale = row_sum + kRowsPerTile;        // [rows]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int32_t head = blockIdx.y, kv_head = head / (n_heads / n_kv_heads);
  const int64_t i0 = int64_t(blockIdx.x) * kRowsPerTile;
  const int rows = int(n - i0 < kRowsPerTile ? n - i0 : kRowsPerTile);
  const int64_t width = int64_t(n_heads) * hd;
  const float scale = 1.0f / sqrtf(float(hd));

  for (int e = tid; e < kRowsPerTile * hd; e += kThreads) {
    const int r = e / hd, d = e % hd;
    qs[e] = r < rows ? q[(i0 + r) * width + int64_t(head) * hd + d] * scale : 0.0f;
    acc[e] = 0.0f;
  }
  for (int r = tid; r < kRowsPerTile; r += kThreads) row_max[r] = -INFINITY, row_sum[r] = 0.0f;

  // Every position some row of the tile may see.
  int64_t lo, hi, lo_last, hi_first;
  span_of(pos0 + i0, mask, &lo, &hi_first);
  span_of(pos0 + i0 + rows - 1, mask, &lo_last, &hi);
  const T* kbase = static_cast<const T*>(kv.k) + int64_t(kv_head) * hd;
  const T* vbase = static_cast<const T*>(kv.v) + int64_t(kv_head) * hd;
  __syncthreads();

  for (int64_t p0 = lo; p0 <= hi; p0 += kKeysPerTile) {
    for (int e = tid; e < kKeysPerTile * hd; e += kThreads) {
      const int j = e / hd, d = e % hd;
      const int64_t p = p0 + j;
      float kf = 0.0f, vf = 0.0f;
      if (p <= hi) {
        const int64_t at = paged_row(kv, 0, p) * kv.row_stride + d;
        kf = to_f32<T>(kbase[at]);
        vf = to_f32<T>(vbase[at]);
      }
      ks[j * (hd + 1) + d] = kf;
      vs[j * hd + d] = vf;
    }
    __syncthreads();

    for (int e = tid; e < kRowsPerTile * kKeysPerTile; e += kThreads) {
      const int r = e / kKeysPerTile, j = e % kKeysPerTile;
      int64_t rlo, rhi;
      span_of(pos0 + i0 + r, mask, &rlo, &rhi);
      const int64_t p = p0 + j;
      float s = -INFINITY;
      if (r < rows && p >= rlo && p <= rhi) {
        s = 0.0f;
        const float* qr = qs + r * hd;
        const float* kj = ks + j * (hd + 1);
        for (int d = 0; d < hd; ++d) s += qr[d] * kj[d];
      }
      sc[e] = s;
    }
    __syncthreads();

    // Online softmax: one warp per row, one lane per key of the tile.
    for (int r = warp; r < kRowsPerTile; r += kWarps) {
      const float s = sc[r * kKeysPerTile + lane];
      const float m_old = row_max[r];
      const float m_new = fmaxf(m_old, warp_max(s));
      // Nothing visible yet: keep zeros and avoid exp(-inf - -inf).
      const float pw = m_new == -INFINITY ? 0.0f : expf(s - m_new);
      const float sum = warp_sum(pw);
      sc[r * kKeysPerTile + lane] = pw;
      if (lane == 0) {
        const float alpha = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
        rescale[r] = alpha;
        row_sum[r] = row_sum[r] * alpha + sum;
        row_max[r] = m_new;
      }
    }
    __syncthreads();

    for (int e = tid; e < kRowsPerTile * hd; e += kThreads) {
      const int r = e / hd, d = e % hd;
      float a = acc[e] * rescale[r];
      const float* pr = sc + r * kKeysPerTile;
#pragma unroll 8
      for (int j = 0; j < kKeysPerTile; ++j) a += pr[j] * vs[j * hd + d];
      acc[e] = a;
    }
    __syncthreads();
  }

  for (int e = tid; e < rows * hd; e += kThreads) {
    const int r = e / hd, d = e % hd;
    out[(i0 + r) * width + int64_t(head) * hd + d] = row_sum[r] > 0.0f ? acc[e] / row_sum[r] : 0.0f;
  }
}

}  // namespace

void prefill_attention(float* out, const float* q, int64_t n, int64_t pos0, const PagedKv& kv,
                       const AttentionShape& shape, const AttentionMask& mask, cudaStream_t stream) {
  if (shape.n_kv_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0 || shape.head_dim <= 0)
    throw Error("INVALID_ARGUMENT", "attention: n_heads must be a positive multiple of n_kv_heads");
  if (n <= 0) return;
  const size_t bytes = shared_bytes(shape.head_dim);
  const dim3 grid(unsigned((n + kRowsPerTile - 1) / kRowsPerTile), unsigned(shape.n_heads));
  dispatch_dtype(kv.dtype, [&](auto zero) {
    using T = decltype(zero);
    auto kernel = prefill_kernel<T>;
    if (bytes > kDefaultShared)
      check_status(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
                   "cudaFuncSetAttribute");
    kernel<<<grid, kThreads, bytes, stream>>>(out, q, n, pos0, kv, shape.n_heads, shape.n_kv_heads, shape.head_dim,
                                              mask);
  });
  check_launch("prefill_attention");
}

}  // namespace lckv::cuda
