// AVX2 + FMA element-wise kernels: SiLU through the vector exp, eight values per step and
// the tail through the same code under a lane mask. Compiled for AVX2 whatever the build's
// baseline; only called when isa_detect() found the instructions.
#include "kernels/cpu/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,f16c,fma")
#endif

#include "kernels/cpu/avx2_vec.h"

namespace lckv {

namespace {

// g / (1 + e^-g) * u: e^-g saturates at e^88, so a very negative g gives ~0, never NaN.
inline __m256 silu_times(__m256 g, __m256 u) {
  const __m256 e = avx2::exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

}  // namespace

void silu_mul_avx2(float* gate, const float* up, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(gate + i, silu_times(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < count) {
    const __m256i mask = avx2::first_lanes(count - i);
    _mm256_maskstore_ps(gate + i, mask, silu_times(_mm256_maskload_ps(gate + i, mask), _mm256_maskload_ps(up + i, mask)));
  }
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
void silu_mul_avx2(float* gate, const float* up, int64_t count) { silu_mul_generic(gate, up, count); }
}  // namespace lckv

#endif
