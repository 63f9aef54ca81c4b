// AVX2 + FMA + F16C primitives for the shared attention tile: K/V rows widened eight at a
// time, dots and V accumulation in 8-lane FMAs. Compiled for AVX2 whatever the build's
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
  static void widen(float* dst, const void* src, DType dtype, int32_t n) {
    if (dtype == DType::F32) {
      std::memcpy(dst, src, size_t(n) * sizeof(float));
      return;
    }
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, dtype == DType::F16 ? avx2::load8<DType::F16>(src, i) : avx2::load8<DType::BF16>(src, i));
    for (; i < n; ++i) dst[i] = load_as_f32(src, dtype, size_t(i));
  }

  // Two accumulators over alternating 8-lane blocks, then a fixed-order horizontal sum.
  static float dot(const float* a, const float* b, int32_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    if (i + 8 <= n) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
      i += 8;
    }
    float sum = avx2::hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }

  static void axpy(float* y, float a, const float* x, int32_t n) {
    const __m256 av = _mm256_set1_ps(a);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
  }
};

}  // namespace

void attend_tile_avx2(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask) {
  AttentionTile<Avx2Ops>(kv, shape, mask).run(out, q, rows, pos0, kv_head);
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
void attend_tile_avx2(float* out, const float* q, int64_t rows, int64_t pos0, int32_t kv_head, const KvView& kv,
                      const AttentionShape& shape, const AttentionMask& mask) {
  attend_tile_generic(out, q, rows, pos0, kv_head, kv, shape, mask);
}
}  // namespace lckv

#endif
