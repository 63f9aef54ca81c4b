// The attention loop every ISA path shares, templated on that path's vector primitives so
// the arithmetic order is fixed in one place. A tile is a run of consecutive query rows of
// one sequence against a range of kv heads. K/V rows are widened to f32 a chunk of positions at a
// time (a chunk stays in L1) and used by every query of the tile (and of its GQA group)
// that sees them. A row's result does not depend on the tile it is computed in: its
// positions are split into segments at fixed absolute positions (kAttentionSegment); in
// each, its dots, softmax and V accumulation run over its own positions in ascending
// order, exactly as when it is alone, and chunk edges only split loops whose steps are
// independent per position (dots) or already sequential in position (the V accumulation);
// the segments are folded in ascending order by merge_segment. A single-row
// tile on a path with stored-value primitives (kReads16) reads F16/BF16 K/V in place
// instead, with the same arithmetic.
//
// Include this header only where the Ops it is instantiated with are compiled: it holds
// templates only, so an ISA-specific translation unit can instantiate it under its target.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/attention.h"

namespace lckv {

// Ops provides (the tile finishes what a vector primitive leaves: F32 rows, short tails):
//   static int32_t widen16(float* dst, const void* src, DType dtype, int32_t n);
//       the leading values of an F16/BF16 row as f32; returns how many it wrote
//   template <int P> static void dots(float* dst, const float* q, const float* k, int32_t n, float scale);
//       dst[i] = dot(q, k + i * n) * scale for i < P, each dot in one fixed order whatever P
//   static float exp_shift_sum(float* s, int64_t count, float shift);
//       s[i] = exp(s[i] - shift); returns their sum, in an order fixed by count alone
//   static int32_t accumulate(float* o, const float* s, const float* v, int64_t count, int32_t n);
//       o[d] += s[i] * v[i * n + d] for i ascending, for the leading d < n; returns how many d
//   static int32_t accumulate2(float* o0, float* o1, const float* s0, const float* s1, const float* v,
//                              int64_t count, int32_t n);
//       accumulate() of two query heads that read the same v, with the same arithmetic
//   static constexpr bool kReads16: whether it also has, for n a multiple of 16 and position
//   i's n values stored (F16/BF16) at rows[i] + offset, the same arithmetic without widening:
//     template <int P> static void dots16(float* dst, const float* q, const uint8_t* const* rows,
//                                         size_t offset, DType dtype, int32_t n, float scale);
//     static void accumulate16(float* o, const float* s, const uint8_t* const* rows, size_t offset,
//                              DType dtype, int64_t count, int32_t n);
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
        rows_buf_(scratch().rows),
        seg_o_(scratch().seg_o),
        seg_m_(scratch().seg_m),
        seg_l_(scratch().seg_l),
        run_m_(scratch().run_m),
        run_l_(scratch().run_l) {}

  // Rows pos0 .. pos0 + rows - 1 of q/out ([rows, n_heads * head_dim]), the query heads of
  // kv heads [kv_head0, kv_head1). Several kv heads read each cached row's adjacent slices
  // in one pass, so a decode row streams its K/V rows whole instead of once per head. The
  // segments the tile's rows see are computed in turn and folded into out; with `segment`
  // (one row), only that segment's partial is computed, into it.
  void run(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1,
           const SegmentPartial* segment) {
    kv_heads_ = kv_head1 - kv_head0, heads_ = kv_heads_ * group_;
    const int64_t per_head = kChunkBytes / (int64_t(hd_) * 4 * kv_heads_);
    chunk_ = per_head > 0 ? per_head : 1;
    plane_ = chunk_ * hd_;
    q0_ = int64_t(kv_head0) * group_ * hd_, kv_col_ = int64_t(kv_head0) * hd_, rows_ = rows, pos0_ = pos0;
    int64_t lo, hi, unused;
    attention_span(pos0, mask_, &lo, &unused);
    attention_span(pos0 + rows - 1, mask_, &unused, &hi);
    if (segment) {
      for (int32_t j = 0; j < heads_; ++j) segment->l[j] = 0.0f;
      const int64_t first = segment->index * kAttentionSegment;
      if (lo < first + kAttentionSegment && hi >= first) compute_segment(q, segment->index, lo, hi, segment->o, segment->m, segment->l);
      return;
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < heads_ * hd_; ++j) out[r * width_ + q0_ + j] = 0.0f;
    if (hi < lo) return;
    const size_t pairs = size_t(rows * heads_);
    seg_o_.resize(pairs * size_t(hd_)), seg_m_.resize(pairs), seg_l_.resize(pairs);
    run_m_.assign(pairs, 0.0f), run_l_.assign(pairs, 0.0f);
    for (int64_t g = lo / kAttentionSegment; g <= hi / kAttentionSegment; ++g) {
      compute_segment(q, g, lo, hi, seg_o_.data(), seg_m_.data(), seg_l_.data());
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t j = 0; j < heads_; ++j) {
          const size_t rj = size_t(r * heads_ + j);
          merge_segment(&run_m_[rj], &run_l_[rj], out + r * width_ + q0_ + j * hd_, seg_m_[rj], seg_l_[rj],
                        seg_o_.data() + rj * size_t(hd_), hd_);
        }
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t j = 0; j < heads_; ++j) normalize_folded(out + r * width_ + q0_ + j * hd_, run_l_[size_t(r * heads_ + j)], hd_);
  }

 private:
  // Widened K or V rows of one chunk (every kv head of the tile): with the tile's query
  // rows, they stay in L1.
  static constexpr int64_t kChunkBytes = 16 * 1024;
  // Cached rows lie in blocks scattered over the pool, which no hardware prefetcher
  // follows: ask for rows this far ahead.
  static constexpr int64_t kPrefetchRows = 16;
  // Positions whose row addresses a decode row gathers at a time (reading stored values).
  static constexpr int64_t kRunRows = 16;

  // Segment g of the tile's span [lo, hi]: for each (row r, query head j) pair rj, the
  // partial o[rj * head_dim ...] (unnormalized), m[rj], l[rj] (0 where r sees nothing in it).
  void compute_segment(const float* q, int64_t g, int64_t lo, int64_t hi, float* o, float* m, float* l) {
    seg_lo_ = g * kAttentionSegment > lo ? g * kAttentionSegment : lo;
    seg_hi_ = (g + 1) * kAttentionSegment - 1 < hi ? (g + 1) * kAttentionSegment - 1 : hi;
    // Room for a whole segment at once: a decode row's span grows by one position per step.
    scores_.reserve(size_t(rows_ * heads_ * kAttentionSegment));
    scores_.resize(size_t(rows_ * heads_ * span()));
    rows_buf_.resize(size_t(kv_heads_ * chunk_ * hd_));
    for (int64_t i = 0; i < rows_ * heads_ * hd_; ++i) o[i] = 0.0f;
    const float scale = 1.0f / std::sqrt(float(hd_));
    if constexpr (Ops::kReads16) {
      // A decode row uses each cached row once per query head of its group: reading the
      // stored values directly costs less than widening them into L1 first.
      if (rows_ == 1 && kv_.dtype != DType::F32 && hd_ % 16 == 0) return segment_stored(q + q0_, scale, o, m, l);
    }
    for_each_chunk(kv_.k, [&](int64_t r, int64_t a, int64_t b, const float* rows) {
      for (int32_t j = 0; j < heads_; ++j)
        scores(score(r, j) + a, q + r * width_ + q0_ + j * hd_, rows + j / group_ * plane_, b - a, scale);
    });
    softmax(m, l);
    // The query heads of a GQA group read the same V rows: two at a time share each load.
    for_each_chunk(kv_.v, [&](int64_t r, int64_t a, int64_t b, const float* rows) {
      for (int32_t j = 0; j < heads_; j += heads_in_step(j)) {
        const float* v = rows + j / group_ * plane_;
        if (heads_in_step(j) == 2)
          accumulate2(o + (r * heads_ + j) * hd_, score(r, j) + a, score(r, j + 1) + a, v, b - a);
        else
          accumulate(o + (r * heads_ + j) * hd_, score(r, j) + a, v, b - a);
      }
    });
  }

  // Query heads j and j + 1 go together when they read the same kv head.
  int32_t heads_in_step(int32_t j) const { return j + 1 < heads_ && j / group_ == (j + 1) / group_ ? 2 : 1; }

  // One query row reading the stored K/V: the products and sums of the widened path, in
  // the same order, so its result is bitwise the same.
  void segment_stored(const float* q, float scale, float* o, float* m, float* l) {
    for_each_run(kv_.k, [&](int32_t j, int64_t a, int64_t count, const uint8_t* const* at, size_t offset) {
      float* dst = score(0, j) + a;
      int64_t p = 0;
      for (; p + 4 <= count; p += 4) Ops::template dots16<4>(dst + p, q + j * hd_, at + p, offset, kv_.dtype, hd_, scale);
      for (; p < count; ++p) Ops::template dots16<1>(dst + p, q + j * hd_, at + p, offset, kv_.dtype, hd_, scale);
    });
    softmax(m, l);
    for_each_run(kv_.v, [&](int32_t j, int64_t a, int64_t count, const uint8_t* const* at, size_t offset) {
      Ops::accumulate16(o + j * hd_, score(0, j) + a, at, offset, kv_.dtype, count, hd_);
    });
  }

  // Per-thread buffers, grown once: no allocation per call on the hot path.
  struct Scratch {
    std::vector<float> scores, rows, seg_o, seg_m, seg_l, run_m, run_l;
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }

  // Four positions at a time share each load of q; a position's dot is the same either way.
  void scores(float* dst, const float* q, const float* k, int64_t count, float scale) const {
    int64_t p = 0;
    for (; p + 4 <= count; p += 4) Ops::template dots<4>(dst + p, q, k + p * hd_, hd_, scale);
    for (; p < count; ++p) Ops::template dots<1>(dst + p, q, k + p * hd_, hd_, scale);
  }

  static void prefetch(const uint8_t* src, size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(src + off);
    __builtin_prefetch(src + bytes - 1);  // the last line, when the row does not start on a line
#else
    (void)src, (void)bytes;
#endif
  }

  void widen(float* dst, const void* src) const {
    if (kv_.dtype == DType::F32) return void(std::memcpy(dst, src, size_t(hd_) * sizeof(float)));
    for (int32_t d = Ops::widen16(dst, src, kv_.dtype, hd_); d < hd_; ++d) dst[d] = load_as_f32(src, kv_.dtype, size_t(d));
  }

  void accumulate(float* o, const float* s, const float* v, int64_t count) const {
    accumulate_tail(Ops::accumulate(o, s, v, count, hd_), o, s, v, count);
  }

  // o0: the outputs of two adjacent query heads (head_dim floats each) that read the same v rows.
  void accumulate2(float* o0, const float* s0, const float* s1, const float* v, int64_t count) const {
    float* o1 = o0 + hd_;
    const int32_t d = Ops::accumulate2(o0, o1, s0, s1, v, count, hd_);
    accumulate_tail(d, o0, s0, v, count);
    accumulate_tail(d, o1, s1, v, count);
  }

  // The columns from d on that the vector primitive left.
  void accumulate_tail(int32_t d, float* o, const float* s, const float* v, int64_t count) const {
    for (; d < hd_; ++d) {
      float acc = o[d];
      for (int64_t p = 0; p < count; ++p) acc += s[p] * v[p * hd_ + d];
      o[d] = acc;
    }
  }

  // Scores of (row r, query head j of the tile), indexed by absolute position.
  float* score(int64_t r, int32_t j) { return scores_.data() + (r * heads_ + j) * span() - seg_lo_; }
  int64_t span() const { return seg_hi_ - seg_lo_ + 1; }

  // The positions of the current segment that row r sees.
  void row_span(int64_t r, int64_t* lo, int64_t* hi) const {
    attention_span(pos0_ + r, mask_, lo, hi);
    *lo = *lo > seg_lo_ ? *lo : seg_lo_;
    *hi = *hi < seg_hi_ ? *hi : seg_hi_;
  }

  // Widens the tile's span of `base` a chunk of positions at a time (each kv head's slice
  // into a plane of its own, head_dim floats per position, planes plane_ floats apart), then
  // calls fn(r, a, b, rows) for each query row r that sees positions [a, b) of the chunk,
  // with `rows` the widened slice of the tile's first kv head at position a. The masks are
  // bounds, not branches.
  template <typename Fn>
  void for_each_chunk(const void* base, Fn&& fn) {
    const size_t elem = dtype_size(kv_.dtype), row_bytes = size_t(kv_heads_ * hd_) * elem;
    const int64_t end = seg_hi_ + 1;
    const auto row = row_of(base);
    for (int64_t p = seg_lo_; p < seg_lo_ + kPrefetchRows && p < end; ++p) prefetch(row(p), row_bytes);
    for (int64_t c0 = seg_lo_; c0 < end; c0 += chunk_) {
      const int64_t c1 = c0 + chunk_ < end ? c0 + chunk_ : end;
      for (int64_t p = c0; p < c1; ++p) {
        if (p + kPrefetchRows < end) prefetch(row(p + kPrefetchRows), row_bytes);
        for (int32_t h = 0; h < kv_heads_; ++h)
          widen(rows_buf_.data() + h * plane_ + (p - c0) * hd_, row(p) + size_t(h * hd_) * elem);
      }
      for (int64_t r = 0; r < rows_; ++r) {
        int64_t lo, hi;
        row_span(r, &lo, &hi);
        const int64_t a = lo > c0 ? lo : c0, b = hi + 1 < c1 ? hi + 1 : c1;
        if (a < b) fn(r, a, b, rows_buf_.data() + (a - c0) * hd_);
      }
    }
  }

  // The tile's first kv head in the stored row of position p of `base`.
  auto row_of(const void* base) const {
    const auto* first = static_cast<const uint8_t*>(base) + size_t(kv_col_) * dtype_size(kv_.dtype);
    const size_t stride = size_t(kv_.row_stride) * dtype_size(kv_.dtype);
    return [this, first, stride](int64_t p) { return first + size_t(kv_row_index(kv_, p)) * stride; };
  }

  // One query row's span of `base`, kRunRows positions at a time: gathers their stored
  // rows' addresses, then calls fn(j, a, count, rows, offset) for each query head j of the
  // tile, with rows[i] + offset the stored slice of j's kv head at position a + i.
  template <typename Fn>
  void for_each_run(const void* base, Fn&& fn) {
    const size_t elem = dtype_size(kv_.dtype), row_bytes = size_t(kv_heads_ * hd_) * elem;
    const int64_t end = seg_hi_ + 1;
    const auto row = row_of(base);
    const uint8_t* at[kRunRows];
    for (int64_t p = seg_lo_; p < seg_lo_ + kRunRows && p < end; ++p) prefetch(row(p), row_bytes);
    for (int64_t c0 = seg_lo_; c0 < end; c0 += kRunRows) {
      const int64_t count = c0 + kRunRows < end ? kRunRows : end - c0;
      for (int64_t i = 0; i < count; ++i) at[i] = row(c0 + i);
      // The next run's rows are requested a share before each head's work, not in one burst.
      const int64_t next = c0 + count, ahead = end - next < kRunRows ? end - next : kRunRows;
      for (int32_t j = 0; j < heads_; ++j) {
        for (int64_t p = next + ahead * j / heads_; p < next + ahead * (j + 1) / heads_; ++p) prefetch(row(p), row_bytes);
        fn(j, c0, count, at, size_t(j / group_ * hd_) * elem);
      }
    }
  }

  // The largest of count >= 1 scores, through eight running maxima (independent chains, not
  // one): the same value as one scan, since a maximum does not depend on the order (zeros
  // of either sign aside, which give the same exp(score - max)).
  static float max_of(const float* s, int64_t count) {
    float part[8];
    for (float& x : part) x = s[0];
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
      for (int j = 0; j < 8; ++j) part[j] = s[i + j] > part[j] ? s[i + j] : part[j];
    for (; i < count; ++i) part[0] = s[i] > part[0] ? s[i] : part[0];
    float mx = part[0];
    for (int j = 1; j < 8; ++j) mx = part[j] > mx ? part[j] : mx;
    return mx;
  }

  // Scores of the current segment become exp(score - m), l their sum, per (row, head) pair.
  void softmax(float* m, float* l) {
    for (int64_t r = 0; r < rows_; ++r) {
      int64_t lo, hi;
      row_span(r, &lo, &hi);
      for (int32_t j = 0; j < heads_; ++j) {
        const size_t rj = size_t(r * heads_ + j);
        if (hi < lo) {
          l[rj] = 0.0f;
          continue;
        }
        float* sc = score(r, j);
        const float mx = max_of(sc + lo, hi - lo + 1);
        m[rj] = mx;
        l[rj] = Ops::exp_shift_sum(sc + lo, hi - lo + 1, mx);
      }
    }
  }

  const KvView& kv_;
  const AttentionMask mask_;
  const int32_t group_, hd_;
  const int64_t width_;
  int32_t kv_heads_ = 0, heads_ = 0;  // kv heads and query heads of the current run
  int64_t chunk_ = 0, plane_ = 0, q0_ = 0, kv_col_ = 0;
  std::vector<float>& scores_;
  std::vector<float>& rows_buf_;
  std::vector<float>&seg_o_, &seg_m_, &seg_l_;  // [rows, heads (, head_dim)] of the segment in hand
  std::vector<float>&run_m_, &run_l_;           // [rows, heads] folded so far (run_l_ 0: nothing yet)
  int64_t rows_ = 0, pos0_ = 0;
  int64_t seg_lo_ = 0, seg_hi_ = 0;  // the current segment's part of the tile's span
};

}  // namespace lckv
