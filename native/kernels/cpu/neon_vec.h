// NEON building blocks shared by the arm64 kernels: 4 stored values widened to f32, a
// vector exp, and a whole-vector load of a short tail. Include only in arm64 builds.
#pragma once
#include <arm_neon.h>

#include <cstdint>

#include "common/dtype.h"

namespace lckv {
namespace neon {

// Values index .. index + 3 of an F32/F16/BF16 array, as f32.
template <DType T>
inline float32x4_t load4(const void* base, int64_t index) {
  if constexpr (T == DType::F32) {
    return vld1q_f32(static_cast<const float*>(base) + index);
  } else if constexpr (T == DType::F16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(base) + index)));
  } else {
    // bf16 is the top half of an f32: shift each value into the high 16 bits.
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(base) + index), 16));
  }
}

// e^x lane by lane, the same method and constants as the AVX2 path (avx2_vec.h): Cody-Waite
// reduction, Cephes' degree-5 polynomial, 2^k through the exponent bits. Below -87.3 it
// returns 0; above 88 it returns e^88.
inline float32x4_t exp4(float32x4_t x) {
  const float32x4_t lowest = vdupq_n_f32(-87.3f);
  const uint32x4_t underflow = vcltq_f32(x, lowest);
  x = vminq_f32(vmaxq_f32(x, lowest), vdupq_n_f32(88.0f));
  const float32x4_t k = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, k, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t poly = vdupq_n_f32(1.9875691500e-4f);
  poly = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), poly, r);
  poly = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), poly, r);
  poly = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), poly, r);
  poly = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), poly, r);
  poly = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), poly, r);
  const float32x4_t er = vaddq_f32(vfmaq_f32(r, poly, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  const float32x4_t e = vmulq_f32(er, vreinterpretq_f32_s32(bits));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(e), underflow));
}

// The first `count` (< 4) values at p in the low lanes, zeros above: a tail goes through the
// same vector code as the body.
inline float32x4_t load_tail(const float* p, int64_t count) {
  float lanes[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < count; ++i) lanes[i] = p[i];
  return vld1q_f32(lanes);
}

inline void store_tail(float* p, float32x4_t v, int64_t count) {
  float lanes[4];
  vst1q_f32(lanes, v);
  for (int64_t i = 0; i < count; ++i) p[i] = lanes[i];
}

}  // namespace neon
}  // namespace lckv
