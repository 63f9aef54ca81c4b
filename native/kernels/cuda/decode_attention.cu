#include "kernels/cuda/decode_attention.h"

#include <algorithm>

#include "common/error.h"
#include "kernels/cuda/common.cuh"

namespace lckv::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kGroupChunk = 8;       // query heads accumulated in registers at a time
constexpr int kValueDims = 64;       // dims of a V row one warp covers per pass (2 a lane)
constexpr int kMinSplitLen = 128;    // fewer positions per block than this costs more than it saves
constexpr size_t kDefaultShared = 48 * 1024;

// How the visible positions of every row are cut into splits: the grid's z size and the
// positions each split covers. The same numbers size the workspace and launch the kernel.
struct SplitPlan {
  int32_t splits = 1;
  int32_t split_len = 0;
  size_t shared_bytes = 0;
};

int32_t multiprocessors() {
  int device = 0, count = 0;
  check_status(cudaGetDevice(&device), "cudaGetDevice");
  check_status(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  return count;
}

size_t shared_bytes(int32_t group, int32_t head_dim, int32_t split_len) {
  return sizeof(float) * (size_t(group) * head_dim + size_t(group) * split_len + size_t(kWarps) * kGroupChunk * kValueDims +
                          2 * size_t(group));
}

SplitPlan plan_splits(int64_t n, const AttentionShape& shape, const AttentionMask& mask, int64_t max_position,
                      int32_t sm_count) {
  const int32_t group = shape.n_heads / shape.n_kv_heads;
  int64_t span = max_position + 1;
  if (mask.window > 0) span = std::min<int64_t>(span, mask.window);
  span = std::max<int64_t>(span, 1);
  // Scores of one split for the whole group live in shared memory: keep the block within
  // the default 48 KiB when the shape allows it.
  const size_t fixed = shared_bytes(group, shape.head_dim, 0);
  int64_t cap = fixed < kDefaultShared ? int64_t((kDefaultShared - fixed) / (sizeof(float) * group)) / 32 * 32 : 0;
  cap = std::max<int64_t>(cap, 32);
  // Enough blocks to fill the device about four times over, but no split shorter than
  // kMinSplitLen positions.
  const int64_t base_blocks = std::max<int64_t>(n * shape.n_kv_heads, 1);
  int64_t splits = std::max<int64_t>(1, (4 * int64_t(sm_count) + base_blocks - 1) / base_blocks);
  splits = std::min(splits, std::max<int64_t>(1, (span + kMinSplitLen - 1) / kMinSplitLen));
  int64_t split_len = ((span + splits - 1) / splits + 31) / 32 * 32;
  split_len = std::min(split_len, cap);
  SplitPlan plan;
  plan.split_len = int32_t(split_len);
  plan.splits = int32_t((span + split_len - 1) / split_len);
  plan.shared_bytes = shared_bytes(group, shape.head_dim, plan.split_len);
  return plan;
}

size_t workspace_floats(int64_t n, const AttentionShape& shape, const SplitPlan& plan) {
  if (plan.splits == 1) return 0;
  return size_t(n) * shape.n_heads * plan.splits * (size_t(shape.head_dim) + 2);
}

// Two consecutive elements widened; `aligned`: p is aligned to two elements.
template <typename T>
__device__ __forceinline__ void load2(const T* p, bool aligned, float& a, float& b) {
  if constexpr (sizeof(T) == 2) {
    if (aligned) {
      const uint32_t raw = *reinterpret_cast<const uint32_t*>(p);
      const T* h = reinterpret_cast<const T*>(&raw);
      a = to_f32<T>(h[0]), b = to_f32<T>(h[1]);
      return;
    }
  } else {
    if (aligned) {
      const float2 f = *reinterpret_cast<const float2*>(p);
      a = f.x, b = f.y;
      return;
    }
  }
  a = to_f32<T>(p[0]), b = to_f32<T>(p[1]);
}

// One block per (kv head, row, split): the scores of every query head of the GQA group
// against the split's positions (one thread per position, the K row read once for the
// group), a softmax per head (one warp per head), then the weighted sum of V rows (a warp
// per position, two dims per lane). With one split the block writes the normalized output;
// otherwise its unnormalized sum and (max, sum of exponentials) for the combine kernel.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    decode_split_kernel(float* out, float* part_acc, float* part_ml, const float* q, const int64_t* positions,
                        PagedKv kv, int32_t n_heads, int32_t n_kv_heads, int32_t hd, AttentionMask mask,
                        int32_t split_len, bool aligned) {
  extern __shared__ float smem[];
  const int32_t group = n_heads / n_kv_heads;
  float* qs = smem;                               // [group, hd] queries, pre-scaled
  float* w = qs + group * hd;                     // [group, split_len] scores, then exp(score - max)
  float* vsum = w + group * split_len;            // [kWarps, kGroupChunk, kValueDims] per-warp sums
  float* stats = vsum + kWarps * kGroupChunk * kValueDims;  // [group, 2] max, sum of exponentials
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int32_t kv_head = blockIdx.x, split = blockIdx.z, splits = gridDim.z;
  const int64_t row = blockIdx.y, t = positions[row];
  const int32_t h0 = kv_head * group;

  // attention_span() of kernels/cpu/attention.h.
  const int64_t hi = mask.no_diag ? t - 1 : t;
  const int64_t lo = mask.window > 0 && t - mask.window + 1 > 0 ? t - mask.window + 1 : 0;
  const int64_t s0 = lo + int64_t(split) * split_len;
  const int64_t s1 = min(hi + 1, s0 + split_len);
  if (s0 >= s1) {
    for (int i = tid; i < group * hd; i += kThreads) {
      if (splits == 1) out[(row * n_heads + h0) * hd + i] = 0.0f;
    }
    if (splits > 1)
      for (int g = tid; g < group; g += kThreads) {
        const int64_t idx = (row * n_heads + h0 + g) * splits + split;
        part_ml[2 * idx] = -INFINITY;
        part_ml[2 * idx + 1] = 0.0f;
      }
    return;
  }
  const int32_t len = int32_t(s1 - s0);
  const float scale = 1.0f / sqrtf(float(hd));
  for (int i = tid; i < group * hd; i += kThreads) qs[i] = q[(row * n_heads + h0) * hd + i] * scale;
  __syncthreads();

  const int32_t* table = kv.block_tables + row * kv.table_stride;
  const int32_t bs = kv.block_size;
  const T* kbase = static_cast<const T*>(kv.k) + int64_t(kv_head) * hd;
  for (int j = tid; j < len; j += kThreads) {
    const int64_t p = s0 + j;
    const T* kp = kbase + (int64_t(table[p / bs]) * bs + p % bs) * kv.row_stride;
    for (int g0 = 0; g0 < group; g0 += kGroupChunk) {
      const int gn = min(kGroupChunk, group - g0);
      float acc[kGroupChunk] = {};
      int d = 0;
      for (; d + 8 <= hd; d += 8) {
        float kf[8];
        load8(kp + d, aligned, kf);
#pragma unroll
        for (int g = 0; g < kGroupChunk; ++g) {
          if (g >= gn) break;
          const float* qg = qs + (g0 + g) * hd + d;
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[g] += qg[i] * kf[i];
        }
      }
      for (; d < hd; ++d) {
        const float kf = to_f32<T>(kp[d]);
        for (int g = 0; g < gn; ++g) acc[g] += qs[(g0 + g) * hd + d] * kf;
      }
#pragma unroll
      for (int g = 0; g < kGroupChunk; ++g)
        if (g < gn) w[(g0 + g) * split_len + j] = acc[g];
    }
  }
  __syncthreads();

  for (int g = warp; g < group; g += kWarps) {
    float* wg = w + g * split_len;
    float m = -INFINITY;
    for (int j = lane; j < len; j += 32) m = fmaxf(m, wg[j]);
    m = warp_max(m);
    float l = 0.0f;
    for (int j = lane; j < len; j += 32) {
      const float e = expf(wg[j] - m);
      wg[j] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) stats[2 * g] = m, stats[2 * g + 1] = l;
  }
  __syncthreads();

  const T* vbase = static_cast<const T*>(kv.v) + int64_t(kv_head) * hd;
  for (int d0 = 0; d0 < hd; d0 += kValueDims) {
    const int d = d0 + 2 * lane;
    for (int g0 = 0; g0 < group; g0 += kGroupChunk) {
      const int gn = min(kGroupChunk, group - g0);
      float acc[kGroupChunk][2] = {};
      if (d < hd) {
        for (int j = warp; j < len; j += kWarps) {
          const int64_t p = s0 + j;
          const T* vp = vbase + (int64_t(table[p / bs]) * bs + p % bs) * kv.row_stride + d;
          float v0, v1 = 0.0f;
          if (d + 1 < hd)
            load2(vp, aligned, v0, v1);
          else
            v0 = to_f32<T>(vp[0]);
#pragma unroll
          for (int g = 0; g < kGroupChunk; ++g) {
            if (g >= gn) break;
            const float wt = w[(g0 + g) * split_len + j];
            acc[g][0] += wt * v0;
            acc[g][1] += wt * v1;
          }
        }
      }
#pragma unroll
      for (int g = 0; g < kGroupChunk; ++g) {
        vsum[(warp * kGroupChunk + g) * kValueDims + 2 * lane] = acc[g][0];
        vsum[(warp * kGroupChunk + g) * kValueDims + 2 * lane + 1] = acc[g][1];
      }
      __syncthreads();
      for (int i = tid; i < gn * kValueDims; i += kThreads) {
        const int g = i / kValueDims, dd = d0 + i % kValueDims;
        if (dd >= hd) continue;
        float s = 0.0f;
#pragma unroll
        for (int wi = 0; wi < kWarps; ++wi) s += vsum[(wi * kGroupChunk + g) * kValueDims + i % kValueDims];
        const int64_t h = h0 + g0 + g;
        if (splits == 1)
          out[(row * n_heads + h) * hd + dd] = s / stats[2 * (g0 + g) + 1];
        else
          part_acc[((row * n_heads + h) * splits + split) * hd + dd] = s;
      }
      __syncthreads();
    }
  }
  if (splits > 1)
    for (int g = tid; g < group; g += kThreads) {
      const int64_t idx = (row * n_heads + h0 + g) * splits + split;
      part_ml[2 * idx] = stats[2 * g];
      part_ml[2 * idx + 1] = stats[2 * g + 1];
    }
}

// One block per (row, query head): merges the splits' partial softmax states.
__global__ void decode_combine_kernel(float* out, const float* part_acc, const float* part_ml, int32_t hd,
                                      int32_t splits) {
  const int64_t idx = blockIdx.x;  // row * n_heads + head
  const float* ml = part_ml + idx * splits * 2;
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, ml[2 * s]);
  float l = 0.0f;
  for (int s = 0; s < splits; ++s)
    if (ml[2 * s + 1] > 0.0f) l += ml[2 * s + 1] * expf(ml[2 * s] - m);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s)  // empty splits wrote no partial sum: skip, never read
      if (ml[2 * s + 1] > 0.0f) acc += part_acc[(idx * splits + s) * hd + d] * expf(ml[2 * s] - m);
    out[idx * hd + d] = l > 0.0f ? acc / l : 0.0f;
  }
}

void check_shape(const AttentionShape& shape) {
  if (shape.n_kv_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0 || shape.head_dim <= 0)
    throw Error("INVALID_ARGUMENT", "attention: n_heads must be a positive multiple of n_kv_heads");
}

}  // namespace

size_t paged_decode_attention_workspace(int64_t n, const AttentionShape& shape, const AttentionMask& mask,
                                        int64_t max_position) {
  check_shape(shape);
  return workspace_floats(n, shape, plan_splits(n, shape, mask, max_position, multiprocessors())) * sizeof(float);
}

void paged_decode_attention(float* out, const float* q, int64_t n, const int64_t* positions, int64_t max_position,
                            const PagedKv& kv, const AttentionShape& shape, const AttentionMask& mask,
                            void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_shape(shape);
  if (n <= 0) return;
  const SplitPlan plan = plan_splits(n, shape, mask, max_position, multiprocessors());
  const size_t need = workspace_floats(n, shape, plan);
  if (need * sizeof(float) > workspace_bytes)
    throw Error("INVALID_ARGUMENT", "paged_decode_attention: workspace of " + std::to_string(workspace_bytes) +
                                        " bytes, " + std::to_string(need * sizeof(float)) + " needed");
  float* part_acc = static_cast<float*>(workspace);
  float* part_ml = part_acc ? part_acc + size_t(n) * shape.n_heads * plan.splits * shape.head_dim : nullptr;
  const size_t esize = dtype_size(kv.dtype);
  const bool aligned = shape.head_dim % 8 == 0 && kv.row_stride % 8 == 0 &&
                       reinterpret_cast<uintptr_t>(kv.k) % 16 == 0 && reinterpret_cast<uintptr_t>(kv.v) % 16 == 0 &&
                       (esize == 2 || esize == 4);
  const dim3 grid(unsigned(shape.n_kv_heads), unsigned(n), unsigned(plan.splits));
  dispatch_dtype(kv.dtype, [&](auto zero) {
    using T = decltype(zero);
    auto kernel = decode_split_kernel<T>;
    if (plan.shared_bytes > kDefaultShared)
      check_status(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(plan.shared_bytes)),
                   "cudaFuncSetAttribute");
    kernel<<<grid, kThreads, plan.shared_bytes, stream>>>(out, part_acc, part_ml, q, positions, kv, shape.n_heads,
                                                          shape.n_kv_heads, shape.head_dim, mask, plan.split_len,
                                                          aligned);
  });
  check_launch("paged_decode_attention");
  if (plan.splits > 1) {
    decode_combine_kernel<<<unsigned(n * shape.n_heads), 64, 0, stream>>>(out, part_acc, part_ml, shape.head_dim,
                                                                        plan.splits);
    check_launch("paged_decode_attention combine");
  }
}

}  // namespace lckv::cuda
