// AVX2 + FMA + F16C primitives for the shared attention tile: K/V rows widened eight at a
// time, dots four positions at a time, a vector exp for the softmax, and V accumulation
// with the output columns held in registers. Compiled for AVX2 whatever the build's
// baseline; only called when isa_detect() found the instructions. Standard headers come
// before the target pragma so their inline code stays baseline in every translation unit.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/attention.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,f16c,fma")
#endif

#include "kernels/cpu/attention_tile.h"
#include "kernels/cpu/avx2_vec.h"

namespace lckv {

namespace {

struct Avx2Ops {
  static constexpr bool kReads16 = true;

  static int32_t widen16(float* dst, const void* src, DType dtype, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, dtype == DType::F16 ? avx2::load8<DType::F16>(src, i) : avx2::load8<DType::BF16>(src, i));
    return i;
  }

  static float exp_shift_sum(float* s, int64_t count, float shift) {
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 sum = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
      const __m256 e = avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), sh));
      _mm256_storeu_ps(s + i, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (i < count) {  // the last lanes through the same vector exp, so no value depends on its lane
      const __m256i mask = avx2::first_lanes(count - i);
      const __m256 e = _mm256_and_ps(avx2::exp8(_mm256_sub_ps(_mm256_maskload_ps(s + i, mask), sh)), _mm256_castsi256_ps(mask));
      _mm256_maskstore_ps(s + i, mask, e);
      sum = _mm256_add_ps(sum, e);
    }
    return avx2::hsum(sum);
  }

  static int32_t accumulate(float* o, const float* s, const float* v, int64_t count, int32_t n) {
    int32_t d = 0;
    for (; d + 64 <= n; d += 64) accumulate_cols<8>(o + d, s, v + d, count, n);
    for (; d + 32 <= n; d += 32) accumulate_cols<4>(o + d, s, v + d, count, n);
    for (; d + 8 <= n; d += 8) accumulate_cols<1>(o + d, s, v + d, count, n);
    return d;
  }

  // Two query heads' outputs, 32 columns at a time: each V load feeds both heads' FMAs.
  static int32_t accumulate2(float* o0, float* o1, const float* s0, const float* s1, const float* v, int64_t count,
                             int32_t n) {
    int32_t d = 0;
    for (; d + 32 <= n; d += 32) accumulate_cols2(o0 + d, o1 + d, s0, s1, v + d, count, n);
    for (; d + 8 <= n; d += 8) {
      accumulate_cols<1>(o0 + d, s0, v + d, count, n);
      accumulate_cols<1>(o1 + d, s1, v + d, count, n);
    }
    return d;
  }

  template <int P>
  static void dots16(float* dst, const float* q, const uint8_t* const* rows, size_t offset, DType dtype, int32_t n,
                     float scale) {
    if (dtype == DType::F16) return dots_stored<DType::F16, P>(dst, q, rows, offset, n, scale);
    dots_stored<DType::BF16, P>(dst, q, rows, offset, n, scale);
  }

  static void accumulate16(float* o, const float* s, const uint8_t* const* rows, size_t offset, DType dtype,
                           int64_t count, int32_t n) {
    if (dtype == DType::F16) return accumulate_stored<DType::F16>(o, s, rows, offset, count, n);
    accumulate_stored<DType::BF16>(o, s, rows, offset, count, n);
  }

  // Each dot: two accumulators over alternating 8-lane blocks, then one fixed-order sum.
  template <int P>
  static void dots(float* dst, const float* q, const float* k, int32_t n, float scale) {
    __m256 acc0[P], acc1[P];
    for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
      for (int p = 0; p < P; ++p) {
        acc0[p] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k + p * n + i), acc0[p]);
        acc1[p] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k + p * n + i + 8), acc1[p]);
      }
    }
    if (i + 8 <= n) {
      const __m256 qa = _mm256_loadu_ps(q + i);
      for (int p = 0; p < P; ++p) acc0[p] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k + p * n + i), acc0[p]);
      i += 8;
    }
    if constexpr (P == 4)
      if (i == n) return finish4(dst, acc0, acc1, scale);
    for (int p = 0; p < P; ++p) {
      float sum = avx2::hsum(_mm256_add_ps(acc0[p], acc1[p]));
      for (int32_t j = i; j < n; ++j) sum += q[j] * k[p * n + j];
      dst[p] = sum * scale;
    }
  }

 private:
  // dots<P> for n a multiple of 16, each position's values widened in registers as loaded.
  template <DType T, int P>
  static void dots_stored(float* dst, const float* q, const uint8_t* const* rows, size_t offset, int32_t n, float scale) {
    __m256 acc0[P], acc1[P];
    for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = _mm256_setzero_ps();
    for (int32_t i = 0; i < n; i += 16) {
      const __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
      for (int p = 0; p < P; ++p) {
        acc0[p] = _mm256_fmadd_ps(qa, avx2::load8<T>(rows[p] + offset, i), acc0[p]);
        acc1[p] = _mm256_fmadd_ps(qb, avx2::load8<T>(rows[p] + offset, i + 8), acc1[p]);
      }
    }
    if constexpr (P == 4) return finish4(dst, acc0, acc1, scale);
    for (int p = 0; p < P; ++p) dst[p] = avx2::hsum(_mm256_add_ps(acc0[p], acc1[p])) * scale;
  }

  // Four dots' last steps (dst[p] = hsum(acc0[p] + acc1[p]) * scale) together, same bits.
  static void finish4(float* dst, const __m256* acc0, const __m256* acc1, float scale) {
    const __m128 sums = avx2::hsum4(_mm256_add_ps(acc0[0], acc1[0]), _mm256_add_ps(acc0[1], acc1[1]),
                                    _mm256_add_ps(acc0[2], acc1[2]), _mm256_add_ps(acc0[3], acc1[3]));
    _mm_storeu_ps(dst, _mm_mul_ps(sums, _mm_set1_ps(scale)));
  }

  // accumulate() over all n columns (a multiple of 8), in its column blocks and order.
  template <DType T>
  static void accumulate_stored(float* o, const float* s, const uint8_t* const* rows, size_t offset, int64_t count,
                                int32_t n) {
    int32_t d = 0;
    for (; d + 64 <= n; d += 64) accumulate_stored_cols<T, 8>(o + d, s, rows, offset, d, count);
    for (; d + 32 <= n; d += 32) accumulate_stored_cols<T, 4>(o + d, s, rows, offset, d, count);
    for (; d + 8 <= n; d += 8) accumulate_stored_cols<T, 1>(o + d, s, rows, offset, d, count);
  }

  template <DType T, int NV>
  static void accumulate_stored_cols(float* o, const float* s, const uint8_t* const* rows, size_t offset, int32_t d0,
                                     int64_t count) {
    __m256 acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_loadu_ps(o + 8 * j);
    for (int64_t p = 0; p < count; ++p) {
      const __m256 a = _mm256_broadcast_ss(s + p);
      for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(a, avx2::load8<T>(rows[p] + offset, d0 + 8 * j), acc[j]);
    }
    for (int j = 0; j < NV; ++j) _mm256_storeu_ps(o + 8 * j, acc[j]);
  }

  // accumulate_cols<4> of two heads at once (8 accumulators, the V vectors loaded once).
  static void accumulate_cols2(float* o0, float* o1, const float* s0, const float* s1, const float* v, int64_t count,
                               int32_t n) {
    __m256 acc0[4], acc1[4];
    for (int j = 0; j < 4; ++j) acc0[j] = _mm256_loadu_ps(o0 + 8 * j), acc1[j] = _mm256_loadu_ps(o1 + 8 * j);
    for (int64_t p = 0; p < count; ++p) {
      const __m256 a0 = _mm256_broadcast_ss(s0 + p), a1 = _mm256_broadcast_ss(s1 + p);
      for (int j = 0; j < 4; ++j) {
        const __m256 vv = _mm256_loadu_ps(v + p * n + 8 * j);
        acc0[j] = _mm256_fmadd_ps(a0, vv, acc0[j]);
        acc1[j] = _mm256_fmadd_ps(a1, vv, acc1[j]);
      }
    }
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(o0 + 8 * j, acc0[j]), _mm256_storeu_ps(o1 + 8 * j, acc1[j]);
  }

  // Columns [0, 8 * NV) of o kept in registers over all `count` positions: one load and
  // store of o per call instead of one per position.
  template <int NV>
  static void accumulate_cols(float* o, const float* s, const float* v, int64_t count, int32_t n) {
    __m256 acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_loadu_ps(o + 8 * j);
    for (int64_t p = 0; p < count; ++p) {
      const __m256 a = _mm256_broadcast_ss(s + p);
      for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(a, _mm256_loadu_ps(v + p * n + 8 * j), acc[j]);
    }
    for (int j = 0; j < NV; ++j) _mm256_storeu_ps(o + 8 * j, acc[j]);
  }
};

}  // namespace

void attend_tile_avx2(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment) {
  AttentionTile<Avx2Ops>(kv, shape, mask).run(out, q, rows, pos0, kv_head0, kv_head1, segment);
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
void attend_tile_avx2(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment) {
  attend_tile_generic(out, q, rows, pos0, kv_head0, kv_head1, kv, shape, mask, segment);
}
}  // namespace lckv

#endif
