// The attention loop every ISA path shares, templated on that path's vector primitives so
// the arithmetic order is fixed in one place. A tile is a run of consecutive query rows of
// one sequence against one kv head: each K/V row is widened to f32 once and used by every
// query of the tile (and of its GQA group) that sees it. A row's result does not depend on
// the tile it is computed in: its dots, softmax sum and V accumulation run over its own
// positions in ascending order, exactly as when it is alone.
//
// Include this header only where the Ops it is instantiated with are compiled: it holds
// templates only, so an ISA-specific translation unit can instantiate it under its target.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/attention.h"

namespace lckv {

// Ops provides:
//   static void widen(float* dst, const void* src, DType dtype, int32_t n);  // K/V row -> f32
//   static float dot(const float* a, const float* b, int32_t n);            // fixed order
//   static void axpy(float* y, float a, const float* x, int32_t n);         // y += a * x
template <typename Ops>
class AttentionTile {
 public:
  AttentionTile(const KvView& kv, const AttentionShape& s, const AttentionMask& mask)
      : kv_(kv),
        mask_(mask),
        group_(s.n_heads / s.n_kv_heads),
        hd_(s.head_dim),
        width_(int64_t(s.n_heads) * hd_),
        scores_(scratch().scores),
        inv_sum_(scratch().inv_sum),
        row_(scratch().row) {}

  // Rows pos0 .. pos0 + rows - 1 of q/out ([rows, n_heads * head_dim]), heads of kv_head.
  void run(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head) {
    const int64_t q0 = int64_t(kv_head) * group_ * hd_;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < group_ * hd_; ++j) out[r * width_ + q0 + j] = 0.0f;
    int64_t lo, hi, unused;
    attention_span(pos0, mask_, &lo, &unused);
    attention_span(pos0 + rows - 1, mask_, &unused, &hi);
    if (hi < lo) return;
    lo_ = lo, span_ = hi - lo + 1, rows_ = rows, pos0_ = pos0;
    scores_.resize(size_t(rows * group_ * span_));
    inv_sum_.resize(size_t(rows * group_));
    row_.resize(size_t(hd_));
    const float scale = 1.0f / std::sqrt(float(hd_));
    const int64_t kv_col = int64_t(kv_head) * hd_;
    for_each_position(kv_.k, kv_col, [&](int64_t p, int64_t r) {
      for (int32_t g = 0; g < group_; ++g)
        score(r, g)[p] = Ops::dot(q + r * width_ + q0 + g * hd_, row_.data(), hd_) * scale;
    });
    softmax();
    for_each_position(kv_.v, kv_col, [&](int64_t p, int64_t r) {
      for (int32_t g = 0; g < group_; ++g) Ops::axpy(out + r * width_ + q0 + g * hd_, score(r, g)[p], row_.data(), hd_);
    });
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t g = 0; g < group_; ++g) {
        float* o = out + r * width_ + q0 + g * hd_;
        for (int32_t d = 0; d < hd_; ++d) o[d] *= inv_sum_[size_t(r * group_ + g)];
      }
  }

 private:
  // Per-thread buffers, grown once: no allocation per call on the hot path.
  struct Scratch {
    std::vector<float> scores, inv_sum, row;
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }

  // Scores of (row r, head g of the group), indexed by absolute position.
  float* score(int64_t r, int32_t g) { return scores_.data() + (r * group_ + g) * span_ - lo_; }

  void row_span(int64_t r, int64_t* lo, int64_t* hi) const { attention_span(pos0_ + r, mask_, lo, hi); }

  // For every position p of the tile's span in ascending order: widens row p of `base` into
  // row_, then calls fn(p, r) for each row r that sees p. Spans only move forward with r,
  // so the rows that see p are one contiguous range: the masks are bounds, not branches.
  template <typename Fn>
  void for_each_position(const void* base, int64_t kv_col, Fn&& fn) {
    const size_t elem = dtype_size(kv_.dtype);
    int64_t first = 0, end = 0, lo, hi;
    for (int64_t p = lo_; p < lo_ + span_; ++p) {
      for (; first < rows_; ++first) {
        row_span(first, &lo, &hi);
        if (hi >= p) break;
      }
      for (; end < rows_; ++end) {
        row_span(end, &lo, &hi);
        if (lo > p) break;
      }
      if (first >= end) continue;
      const auto* src = static_cast<const uint8_t*>(base) + size_t(kv_row_index(kv_, p) * kv_.row_stride + kv_col) * elem;
      Ops::widen(row_.data(), src, kv_.dtype, hd_);
      for (int64_t r = first; r < end; ++r) fn(p, r);
    }
  }

  void softmax() {
    for (int64_t r = 0; r < rows_; ++r) {
      int64_t lo, hi;
      row_span(r, &lo, &hi);
      for (int32_t g = 0; g < group_; ++g) {
        if (hi < lo) {
          inv_sum_[size_t(r * group_ + g)] = 0.0f;
          continue;
        }
        float* sc = score(r, g);
        float mx = sc[lo], sum = 0;
        for (int64_t p = lo + 1; p <= hi; ++p) mx = sc[p] > mx ? sc[p] : mx;
        for (int64_t p = lo; p <= hi; ++p) {
          sc[p] = std::exp(sc[p] - mx);
          sum += sc[p];
        }
        inv_sum_[size_t(r * group_ + g)] = 1.0f / sum;
      }
    }
  }

  const KvView& kv_;
  const AttentionMask mask_;
  const int32_t group_, hd_;
  const int64_t width_;
  std::vector<float>& scores_;
  std::vector<float>& inv_sum_;
  std::vector<float>& row_;
  int64_t lo_ = 0, span_ = 0, rows_ = 0, pos0_ = 0;
};

}  // namespace lckv
