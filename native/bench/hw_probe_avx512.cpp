// The AVX-512 register-only multiply-add loop: twelve independent 16-lane FMA chains, enough
// to keep two 512-bit FMA pipes busy through a 4-cycle latency (CPUs with one pipe, or two
// 256-bit halves, are saturated too). The read-only stream stays the AVX2 one: memory, not
// vector width, bounds it. Compiled for AVX-512F whatever the build's baseline; only called
// when isa_active() chose that path.
#include "bench/hw_probe.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC target("avx512f")
#endif

#include <immintrin.h>

namespace lckv {

double fma_loop_avx512(int64_t iterations, float* sink) {
  constexpr int kChains = 12;
  // As in fma_loop_avx2: a factor < 1 keeps every chain converging, read through *sink so
  // the compiler cannot evaluate the loop ahead of time; chain j starts at j.
  const __m512 mul = _mm512_set1_ps(0.999f + *sink * 0.0f), add = _mm512_set1_ps(0.001f);
  __m512 a[kChains];
#pragma GCC unroll 12
  for (int j = 0; j < kChains; ++j) a[j] = _mm512_set1_ps(float(j));
  for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) a[j] = _mm512_fmadd_ps(a[j], mul, add);
  __m512 s = a[0];
#pragma GCC unroll 12
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, a[j]);
  // Through memory: GCC 12's _mm512_reduce_add_ps trips its own -Wuninitialized.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  *sink = 0;
  for (float l : lanes) *sink += l;
  return 2.0 * double(iterations) * kChains * 16;
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
// Never called off x86-64: isa_active() cannot choose the AVX-512 path there.
double fma_loop_avx512(int64_t iterations, float* sink) { return fma_loop_generic(iterations, sink); }
}  // namespace lckv

#endif
