#include "kernels/cpu/attention.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/ops.h"

namespace lckv {

namespace {

inline const void* kv_row(const void* base, DType t, int64_t offset) {
  return static_cast<const uint8_t*>(base) + size_t(offset) * dtype_size(t);
}

// Eight partial sums in a fixed order: vectorizable, and the same for every call.
inline float dot(const float* a, const float* b, int32_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int32_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) part[i & 7] += a[i] * b[i];
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

// One (query row, kv head) task: every query head of the GQA group shares each K/V row
// read, so the cache is streamed once per group.
void attend_group(float* out, const float* q, int64_t t, int32_t kv_head, const KvView& kv,
                  const AttentionShape& s, const AttentionMask& mask) {
  const int32_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  const int32_t h0 = kv_head * group;
  int64_t lo, hi;
  attention_span(t, mask, &lo, &hi);
  for (int32_t g = 0; g < group; ++g)
    for (int32_t d = 0; d < hd; ++d) out[(h0 + g) * hd + d] = 0.0f;
  if (hi < lo) return;
  const int64_t span = hi - lo + 1;
  thread_local std::vector<float> scores, row;
  scores.resize(size_t(span * group));
  row.resize(size_t(hd));
  const float scale = 1.0f / std::sqrt(float(hd));
  for (int64_t p = lo; p <= hi; ++p) {
    convert_to_f32(row.data(), kv_row(kv.k, kv.dtype, kv_row_index(kv, p) * kv.row_stride + kv_head * hd), kv.dtype, hd);
    for (int32_t g = 0; g < group; ++g) {
      scores[size_t(g * span + (p - lo))] = dot(q + (h0 + g) * hd, row.data(), hd) * scale;
    }
  }
  thread_local std::vector<float> inv_sum;
  inv_sum.resize(size_t(group));
  for (int32_t g = 0; g < group; ++g) {
    float* sc = scores.data() + g * span;
    float mx = sc[0];
    for (int64_t j = 1; j < span; ++j) mx = sc[j] > mx ? sc[j] : mx;
    float sum = 0;
    for (int64_t j = 0; j < span; ++j) {
      sc[j] = std::exp(sc[j] - mx);
      sum += sc[j];
    }
    inv_sum[size_t(g)] = 1.0f / sum;
  }
  for (int64_t p = lo; p <= hi; ++p) {
    convert_to_f32(row.data(), kv_row(kv.v, kv.dtype, kv_row_index(kv, p) * kv.row_stride + kv_head * hd), kv.dtype, hd);
    for (int32_t g = 0; g < group; ++g) {
      const float wgt = scores[size_t(g * span + (p - lo))];
      float* oh = out + (h0 + g) * hd;
      for (int32_t d = 0; d < hd; ++d) oh[d] += wgt * row[size_t(d)];
    }
  }
  for (int32_t g = 0; g < group; ++g)
    for (int32_t d = 0; d < hd; ++d) out[(h0 + g) * hd + d] *= inv_sum[size_t(g)];
}

}  // namespace

namespace {

// Splits the (query row, kv head) tasks statically over the pool's threads.
template <typename Fn>
void for_each_row_and_kv_head(int64_t n, int32_t n_kv_heads, ThreadPool& pool, Fn&& fn) {
  pool.run([&](int32_t tid, int32_t n_threads) {
    int64_t t0, t1;
    split_range(n * n_kv_heads, tid, n_threads, &t0, &t1);
    for (int64_t task = t0; task < t1; ++task) fn(task / n_kv_heads, int32_t(task % n_kv_heads));
  });
}

}  // namespace

void attention(float* out, const float* q, int64_t n, int64_t pos0, const KvView& kv, const AttentionShape& shape,
               const AttentionMask& mask, ThreadPool& pool) {
  const int64_t width = int64_t(shape.n_heads) * shape.head_dim;
  for_each_row_and_kv_head(n, shape.n_kv_heads, pool, [&](int64_t i, int32_t kv_head) {
    attend_group(out + i * width, q + i * width, pos0 + i, kv_head, kv, shape, mask);
  });
}

void attention_rows(float* out, const float* q, int64_t n, const int64_t* positions, const KvView* kv,
                    const AttentionShape& shape, const AttentionMask& mask, ThreadPool& pool) {
  const int64_t width = int64_t(shape.n_heads) * shape.head_dim;
  for_each_row_and_kv_head(n, shape.n_kv_heads, pool, [&](int64_t i, int32_t kv_head) {
    attend_group(out + i * width, q + i * width, positions[i], kv_head, kv[i], shape, mask);
  });
}

void attention_reference(float* out, const float* q, int64_t n, int64_t pos0, const KvView& kv,
                         const AttentionShape& s, const AttentionMask& mask) {
  const int32_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  for (int64_t i = 0; i < n; ++i) {
    int64_t lo, hi;
    attention_span(pos0 + i, mask, &lo, &hi);
    for (int32_t h = 0; h < s.n_heads; ++h) {
      const float* qh = q + (i * s.n_heads + h) * hd;
      float* oh = out + (i * s.n_heads + h) * hd;
      const int64_t kvo = int64_t(h / group) * hd;
      std::vector<double> w;
      double mx = -INFINITY;
      for (int64_t p = lo; p <= hi; ++p) {
        double dot = 0;
        for (int32_t d = 0; d < hd; ++d)
          dot += double(qh[d]) * load_as_f32(kv.k, kv.dtype, size_t(kv_row_index(kv, p) * kv.row_stride + kvo + d));
        w.push_back(dot / std::sqrt(double(hd)));
        mx = w.back() > mx ? w.back() : mx;
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - mx));
      for (int32_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t p = lo; p <= hi; ++p)
          acc += w[size_t(p - lo)] * load_as_f32(kv.v, kv.dtype, size_t(kv_row_index(kv, p) * kv.row_stride + kvo + d));
        oh[d] = w.empty() ? 0.0f : float(acc / sum);
      }
    }
  }
}

}  // namespace lckv
