// AVX2 + F16C building blocks shared by the AVX2 kernels: 8 stored values widened to f32,
// one fixed-order horizontal sum, a vector exp, and a lane mask for loop tails. Include only after the AVX2 target pragma, in a
// translation unit that runs only where isa_detect() found the instructions.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "common/dtype.h"

namespace lckv {
namespace avx2 {

// Values index .. index + 7 of an F32/F16/BF16 array, as f32.
template <DType T>
inline __m256 load8(const void* base, int64_t index) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + index);
  } else {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + index));
    if constexpr (T == DType::F16) return _mm256_cvtph_ps(half);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));  // bf16: the top half of an f32
  }
}

// Fixed-order horizontal sum: the same wherever it is used, so results do not depend on
// which kernel shape produced the lanes.
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// hsum of four vectors at once, [hsum(v0), hsum(v1), hsum(v2), hsum(v3)]: every lane adds
// the same pairs in the same order as hsum, so each is bitwise hsum's result.
inline __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  // s = low half + high half: [s(v0) | s(v1)] and [s(v2) | s(v3)]
  const __m256 s01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20), _mm256_permute2f128_ps(v0, v1, 0x31));
  const __m256 s23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20), _mm256_permute2f128_ps(v2, v3, 0x31));
  // t = (s0 + s2, s1 + s3): [t(v0), t(v2) | t(v1), t(v3)]
  const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(s01, s23, _MM_SHUFFLE(3, 2, 3, 2)));
  // t0 + t1: [h0, h2, h0, h2 | h1, h3, h1, h3]
  const __m256 h = _mm256_add_ps(_mm256_shuffle_ps(t, t, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(t, t, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm_unpacklo_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// e^x lane by lane: Cody-Waite range reduction to x = k ln2 + r, |r| <= ln2 / 2, a degree-5
// polynomial for e^r (Cephes' expf coefficients, ~1 ulp), 2^k through the exponent bits.
// Below -87.3 it returns 0; above 88 it returns e^88 (~1.7e38), never infinity.
inline __m256 exp8(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.3f);
  const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 poly = _mm256_set1_ps(1.9875691500e-4f);
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.3981999507e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(8.3334519073e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(4.1665795894e-2f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.6666665459e-1f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 er = _mm256_add_ps(_mm256_fmadd_ps(poly, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(er, _mm256_castsi256_ps(bits)));
}

// All-ones in the first `count` lanes (count < 8): loop tails go through the same vector
// code as the body, so no value depends on where it falls in a vector.
inline __m256i first_lanes(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace avx2
}  // namespace lckv
