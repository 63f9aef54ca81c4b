// NEON primitives for the shared attention tile on arm64: K/V rows widened four at a time,
// dots four positions per load of q, the vector exp for the softmax (tails through the same
// code), and V accumulated with the output columns held in registers.
#include "kernels/cpu/attention.h"

#if defined(__aarch64__)

#include "kernels/cpu/attention_tile.h"
#include "kernels/cpu/neon_vec.h"

namespace lckv {

namespace {

struct NeonOps {
  static constexpr bool kReads16 = false;  // widens every K/V row first

  static int32_t widen16(float* dst, const void* src, DType dtype, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
      vst1q_f32(dst + i, dtype == DType::F16 ? neon::load4<DType::F16>(src, i) : neon::load4<DType::BF16>(src, i));
    return i;
  }

  static float exp_shift_sum(float* s, int64_t count, float shift) {
    const float32x4_t sh = vdupq_n_f32(shift);
    float32x4_t sum = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
      const float32x4_t e = neon::exp4(vsubq_f32(vld1q_f32(s + i), sh));
      vst1q_f32(s + i, e);
      sum = vaddq_f32(sum, e);
    }
    if (i < count) {
      float32x4_t e = neon::exp4(vsubq_f32(neon::load_tail(s + i, count - i), sh));
      neon::store_tail(s + i, e, count - i);
      const uint32x4_t lane = {0, 1, 2, 3};
      e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), vcltq_u32(lane, vdupq_n_u32(uint32_t(count - i)))));
      sum = vaddq_f32(sum, e);
    }
    return vaddvq_f32(sum);
  }

  static int32_t accumulate(float* o, const float* s, const float* v, int64_t count, int32_t n) {
    int32_t d = 0;
    for (; d + 32 <= n; d += 32) accumulate_cols<8>(o + d, s, v + d, count, n);
    for (; d + 4 <= n; d += 4) accumulate_cols<1>(o + d, s, v + d, count, n);
    return d;
  }

  // Two query heads' outputs, 32 columns of each at a time: each V load feeds both heads.
  static int32_t accumulate2(float* o0, float* o1, const float* s0, const float* s1, const float* v, int64_t count,
                             int32_t n) {
    int32_t d = 0;
    for (; d + 32 <= n; d += 32) accumulate_cols2(o0 + d, o1 + d, s0, s1, v + d, count, n);
    for (; d + 4 <= n; d += 4) {
      accumulate_cols<1>(o0 + d, s0, v + d, count, n);
      accumulate_cols<1>(o1 + d, s1, v + d, count, n);
    }
    return d;
  }

  // Each dot: two accumulators over alternating 4-lane blocks, then one fixed-order sum.
  template <int P>
  static void dots(float* dst, const float* q, const float* k, int32_t n, float scale) {
    float32x4_t acc0[P], acc1[P];
    for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = vdupq_n_f32(0.0f);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const float32x4_t qa = vld1q_f32(q + i), qb = vld1q_f32(q + i + 4);
      for (int p = 0; p < P; ++p) {
        acc0[p] = vfmaq_f32(acc0[p], qa, vld1q_f32(k + p * n + i));
        acc1[p] = vfmaq_f32(acc1[p], qb, vld1q_f32(k + p * n + i + 4));
      }
    }
    if (i + 4 <= n) {
      const float32x4_t qa = vld1q_f32(q + i);
      for (int p = 0; p < P; ++p) acc0[p] = vfmaq_f32(acc0[p], qa, vld1q_f32(k + p * n + i));
      i += 4;
    }
    for (int p = 0; p < P; ++p) {
      float sum = vaddvq_f32(vaddq_f32(acc0[p], acc1[p]));
      for (int32_t j = i; j < n; ++j) sum += q[j] * k[p * n + j];
      dst[p] = sum * scale;
    }
  }

 private:
  template <int NV>
  static void accumulate_cols(float* o, const float* s, const float* v, int64_t count, int32_t n) {
    float32x4_t acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = vld1q_f32(o + 4 * j);
    for (int64_t p = 0; p < count; ++p) {
      const float32x4_t a = vdupq_n_f32(s[p]);
      for (int j = 0; j < NV; ++j) acc[j] = vfmaq_f32(acc[j], a, vld1q_f32(v + p * n + 4 * j));
    }
    for (int j = 0; j < NV; ++j) vst1q_f32(o + 4 * j, acc[j]);
  }

  // accumulate_cols<8> of two heads at once (16 accumulators of the 32 registers).
  static void accumulate_cols2(float* o0, float* o1, const float* s0, const float* s1, const float* v, int64_t count,
                               int32_t n) {
    float32x4_t acc0[8], acc1[8];
    for (int j = 0; j < 8; ++j) acc0[j] = vld1q_f32(o0 + 4 * j), acc1[j] = vld1q_f32(o1 + 4 * j);
    for (int64_t p = 0; p < count; ++p) {
      const float32x4_t a0 = vdupq_n_f32(s0[p]), a1 = vdupq_n_f32(s1[p]);
      for (int j = 0; j < 8; ++j) {
        const float32x4_t vv = vld1q_f32(v + p * n + 4 * j);
        acc0[j] = vfmaq_f32(acc0[j], a0, vv);
        acc1[j] = vfmaq_f32(acc1[j], a1, vv);
      }
    }
    for (int j = 0; j < 8; ++j) vst1q_f32(o0 + 4 * j, acc0[j]), vst1q_f32(o1 + 4 * j, acc1[j]);
  }
};

}  // namespace

void attend_tile_neon(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment) {
  AttentionTile<NeonOps>(kv, shape, mask).run(out, q, rows, pos0, kv_head0, kv_head1, segment);
}

}  // namespace lckv

#else

namespace lckv {
// Never called off arm64: isa_available() offers the NEON path only there.
void attend_tile_neon(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head0, int32_t kv_head1, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask, const SegmentPartial* segment) {
  attend_tile_generic(out, q, rows, pos0, kv_head0, kv_head1, kv, shape, mask, segment);
}
}  // namespace lckv

#endif
