#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/attention_tile.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/ops.h"

namespace lckv {

namespace {

struct GenericOps {
  static constexpr bool kReads16 = false;  // widens every K/V row first

  static int32_t widen16(float* dst, const void* src, DType dtype, int32_t n) {
    convert_to_f32(dst, src, dtype, n);
    return n;
  }

  // Each dot: eight partial sums in a fixed order, vectorizable and the same for every call.
  template <int P>
  static void dots(float* dst, const float* q, const float* k, int32_t n, float scale) {
    for (int p = 0; p < P; ++p, k += n) {
      float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int32_t i = 0;
      for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) part[j] += q[i + j] * k[i + j];
      for (; i < n; ++i) part[i & 7] += q[i] * k[i];
      dst[p] = (((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]))) * scale;
    }
  }

  static float exp_shift_sum(float* s, int64_t count, float shift) {
    float sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += (s[i] = std::exp(s[i] - shift));
    return sum;
  }

  static int32_t accumulate(float* o, const float* s, const float* v, int64_t count, int32_t n) {
    for (int64_t p = 0; p < count; ++p, v += n)
      for (int32_t d = 0; d < n; ++d) o[d] += s[p] * v[d];
    return n;
  }

  static int32_t accumulate2(float* o0, float* o1, const float* s0, const float* s1, const float* v, int64_t count,
                             int32_t n) {
    accumulate(o0, s0, v, count, n);
    return accumulate(o1, s1, v, count, n);
  }
};

using TileFn = void (*)(float*, const float*, int64_t, int64_t, int32_t, int32_t, const KvView&, const AttentionShape&,
                        const AttentionMask&, const SegmentPartial*);

TileFn tile_fn() {
  const Isa isa = isa_active();
  return isa_runs_avx2(isa) ? attend_tile_avx2 : isa == Isa::Neon ? attend_tile_neon : attend_tile_generic;
}

constexpr int64_t kTileRows = 32;  // query rows sharing each widened K/V row in a prefill

}  // namespace

void attend_tile_generic(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                         const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment) {
  AttentionTile<GenericOps>(kv, shape, mask).run(out, q, rows, pos0, kv_head0, kv_head1, segment);
}

void merge_segment(float* m, float* l, float* o, float m_g, float l_g, const float* o_g, int32_t head_dim) {
  if (l_g == 0.0f) return;
  if (*l == 0.0f) {  // the first segment with anything visible: taken as is
    *m = m_g, *l = l_g;
    std::copy(o_g, o_g + head_dim, o);
    return;
  }
  const float mx = *m > m_g ? *m : m_g, a = std::exp(*m - mx), b = std::exp(m_g - mx);
  for (int32_t d = 0; d < head_dim; ++d) o[d] = o[d] * a + o_g[d] * b;
  *l = *l * a + l_g * b;
  *m = mx;
}

void attention(float* out, const float* q, int64_t n, int64_t pos0, const KvView& kv, const AttentionShape& shape,
               const AttentionMask& mask, ThreadPool& pool) {
  const int64_t width = int64_t(shape.n_heads) * shape.head_dim, tiles = (n + kTileRows - 1) / kTileRows;
  const TileFn fn = tile_fn();
  // Handed out one by one: under a causal mask later rows cost more.
  pool.for_each_task(tiles * shape.n_kv_heads, [&](int64_t task) {
    const int64_t i = task / shape.n_kv_heads * kTileRows, rows = std::min(kTileRows, n - i);
    const auto h = int32_t(task % shape.n_kv_heads);
    fn(out + i * width, q + i * width, rows, pos0 + i, h, h + 1, kv, shape, mask, nullptr);
  });
}

namespace {

// How few rows split by segment: row i's segments are first[i] .. and its tasks
// offset[i] .. offset[i + 1] - 1. The calling thread's buffers, reused every step.
struct SegmentPlan {
  std::vector<int64_t> first, offset;
  float* partials = nullptr;
  int64_t per_task = 0;  // floats of one task's partial: every query head's o, m, l

  void build(int64_t n, const int64_t* positions, const AttentionMask& mask) {
    first.resize(size_t(n)), offset.assign(size_t(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t lo, hi;
      attention_span(positions[i], mask, &lo, &hi);
      first[size_t(i)] = lo / kAttentionSegment;
      offset[size_t(i) + 1] = offset[size_t(i)] + (hi < lo ? 0 : hi / kAttentionSegment - lo / kAttentionSegment + 1);
    }
  }
  int64_t tasks() const { return offset.back(); }
  SegmentPartial partial(int64_t task, const AttentionShape& shape) const {
    float* base = partials + task * per_task;
    const int64_t heads = shape.n_heads, hd = shape.head_dim;
    return SegmentPartial{0, base, base + heads * hd, base + heads * (hd + 1)};
  }
};

// Few rows over long contexts: each task computes one segment of one row (every kv head,
// so it reads whole cached rows), then each row's segments are folded in order. The
// partials are those a tile computes and folds for itself, so the result is the same.
void attention_rows_by_segment(float* out, const float* q, int64_t n, const int64_t* positions, const KvView* kv,
                               const AttentionShape& shape, const AttentionMask& mask, ThreadPool& pool, TileFn fn,
                               SegmentPlan& plan) {
  const int64_t width = int64_t(shape.n_heads) * shape.head_dim, hd = shape.head_dim;
  // The calling thread's buffer: a thread_local named inside the tasks would be each worker's own.
  thread_local std::vector<float> buffer;
  plan.per_task = int64_t(shape.n_heads) * (hd + 2);
  buffer.resize(size_t(plan.tasks() * plan.per_task));
  plan.partials = buffer.data();
  pool.for_each_task(plan.tasks(), [&](int64_t task) {
    const int64_t i = std::upper_bound(plan.offset.begin(), plan.offset.end(), task) - plan.offset.begin() - 1;
    SegmentPartial part = plan.partial(task, shape);
    part.index = plan.first[size_t(i)] + task - plan.offset[size_t(i)];
    fn(nullptr, q + i * width, 1, positions[i], 0, shape.n_kv_heads, kv[i], shape, mask, &part);
  });
  pool.for_each_task(n, [&](int64_t i) {
    for (int32_t h = 0; h < shape.n_heads; ++h) {
      float m = 0.0f, l = 0.0f;
      float* o = out + i * width + h * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t task = plan.offset[size_t(i)]; task < plan.offset[size_t(i) + 1]; ++task) {
        const SegmentPartial part = plan.partial(task, shape);
        merge_segment(&m, &l, o, part.m[h], part.l[h], part.o + h * hd, int32_t(hd));
      }
      normalize_folded(o, l, int32_t(hd));
    }
  });
}

}  // namespace

void attention_rows(float* out, const float* q, int64_t n, const int64_t* positions, const KvView* kv,
                    const AttentionShape& shape, const AttentionMask& mask, ThreadPool& pool) {
  const int64_t width = int64_t(shape.n_heads) * shape.head_dim;
  const TileFn fn = tile_fn();
  // Fewer rows than threads x 4: a row's segments go to different threads when there are
  // more segments than rows; else each row's kv heads are split in one range per thread,
  // so one row alone still keeps every thread busy. Otherwise a row's kv heads stay in one
  // tile, which reads its cached rows whole.
  const bool few = n < 4 * pool.size();
  if (few && pool.size() > 1) {
    thread_local SegmentPlan plan;
    plan.build(n, positions, mask);
    if (plan.tasks() > n) return attention_rows_by_segment(out, q, n, positions, kv, shape, mask, pool, fn, plan);
  }
  const int64_t parts = few ? std::min<int64_t>(pool.size(), shape.n_kv_heads) : 1;
  pool.for_each_task(n * parts, [&](int64_t task) {
    const int64_t i = task / parts;
    int64_t h0, h1;
    split_range(shape.n_kv_heads, int32_t(task % parts), int32_t(parts), &h0, &h1);
    fn(out + i * width, q + i * width, 1, positions[i], int32_t(h0), int32_t(h1), kv[i], shape, mask, nullptr);
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
