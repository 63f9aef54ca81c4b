// AVX2 + F16C building blocks shared by the AVX2 kernels: 8 stored values widened to f32,
// and one fixed-order horizontal sum. Include only after the AVX2 target pragma, in a
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

}  // namespace avx2
}  // namespace lckv
