// Attention of n query rows against one cached layer's K/V (the LCKV "single-layer KV"
// read): causal, optionally with the diagonal masked and a sliding window.
#pragma once
#include <cstdint>

#include "kernels/cpu/tensor_view.h"
#include "kernels/cpu/thread_pool.h"

namespace lckv {

struct AttentionShape {
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;  // query head h reads kv head h / (n_heads / n_kv_heads)
  int32_t head_dim = 0;
};

struct AttentionMask {
  bool no_diag = false;  // position t sees p < t instead of p <= t
  int32_t window = 0;    // > 0: also requires p > t - window
};

// A query's visible positions are split into segments of kAttentionSegment at fixed
// absolute positions; its output is the segments' partial softmaxes folded in ascending
// order (merge_segment), whichever tile, batch or thread computed them. A long context of
// a lone decode row is thus split across threads without changing its result.
constexpr int64_t kAttentionSegment = 512;

// One segment's partial for the query heads of a one-row tile: per head j, the largest
// score m[j], the sum l[j] of exp(score - m[j]) (0: nothing visible) and the output
// o[j * head_dim ...] before normalization.
struct SegmentPartial {
  int64_t index = 0;  // the segment: positions [index * kAttentionSegment, (index + 1) * kAttentionSegment)
  float* o = nullptr;
  float* m = nullptr;
  float* l = nullptr;
};

// Folds a segment's partial (m_g, l_g, o_g) into a running one (m, l, o) of head_dim
// values. One out-of-line definition serves every ISA path, so the fold is the same code
// (and rounding) wherever a segment was computed.
void merge_segment(float* m, float* l, float* o, float m_g, float l_g, const float* o_g, int32_t head_dim);

// The folded output divided by its sum (zeros where nothing was visible).
inline void normalize_folded(float* o, float l, int32_t head_dim) {
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int32_t d = 0; d < head_dim; ++d) o[d] *= inv;
}

// Query row i sits at position pos0 + i. Positions with nothing visible get zeros.
// q: [n, n_heads * head_dim]; out: same shape; kv holds positions 0 .. pos0 + n - 1.
void attention(float* out, const float* q, int64_t n, int64_t pos0, const KvView& kv, const AttentionShape& shape,
               const AttentionMask& mask, ThreadPool& pool);

// Rows of different sequences (batched decode): query row i sits at positions[i] and reads
// kv[i]. Each row is computed exactly as `attention` computes it alone.
void attention_rows(float* out, const float* q, int64_t n, const int64_t* positions, const KvView* kv,
                    const AttentionShape& shape, const AttentionMask& mask, ThreadPool& pool);

// Per-ISA tile kernels: query rows pos0 .. pos0 + rows - 1 of one sequence against kv
// heads [kv_head0, kv_head1) (their query heads kv_head0 * group .. of q and out). A row's
// result is the same in any tile and with any range of heads. With `segment`, a one-row
// tile computes that segment's partial into it instead (out is not touched).
void attend_tile_generic(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                         const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment);
void attend_tile_avx2(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment);
void attend_tile_neon(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment);

// Plain reference for tests.
void attention_reference(float* out, const float* q, int64_t n, int64_t pos0, const KvView& kv,
                         const AttentionShape& shape, const AttentionMask& mask);

// The visible positions [lo, hi] of a query at position t; empty when hi < lo.
inline void attention_span(int64_t t, const AttentionMask& mask, int64_t* lo, int64_t* hi) {
  *hi = mask.no_diag ? t - 1 : t;
  *lo = mask.window > 0 && t - mask.window + 1 > 0 ? t - mask.window + 1 : 0;
}

}  // namespace lckv
