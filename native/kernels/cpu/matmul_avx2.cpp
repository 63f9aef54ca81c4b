// AVX2 + FMA + F16C panel matmul: each x row holds a panel's 16 outputs in two ymm
// accumulators; per column, one broadcast of x meets the panel's 16 weights (two loads,
// widened to f32 as they are loaded). A batch tile is 6 x rows by one panel (12
// accumulators, 2 weight vectors, 1 broadcast: 15 of the 16 ymm registers); one x row
// streams 3 panels at once (6 accumulators). Compiled for AVX2 whatever the build's
// baseline; only called when isa_detect() found the instructions.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

// Standard headers before the target pragma: an inline function compiled under it could be
// the copy the linker keeps for every caller, also on CPUs without the instructions.
#include <algorithm>
#include <vector>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,f16c,fma")
#endif

#include "kernels/cpu/avx2_vec.h"
#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

namespace {

struct Avx2Vec {
  static constexpr int kLanes = 8, kDecodePanels = 3, kBatchRows = 6;
  using V = __m256;
  static V zero() { return _mm256_setzero_ps(); }
  static V splat(const float* x) { return _mm256_broadcast_ss(x); }
  static V fma(V acc, V x, V w) { return _mm256_fmadd_ps(x, w, acc); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  template <DType T>
  static V load(const void* base, int64_t index) { return avx2::load8<T>(base, index); }
};

}  // namespace

void matmul_panels_avx2(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<Avx2Vec>::run(y, x, n, w, p0, p1);
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
void matmul_panels_avx2(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  matmul_panels_generic(y, x, n, w, p0, p1);
}
}  // namespace lckv

#endif
