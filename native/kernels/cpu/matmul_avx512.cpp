// AVX-512 panel matmul: a panel's 16 outputs of an x row are one zmm accumulator; per
// column, one broadcast of x meets the panel's 16 weights (one load, widened to f32 as it
// is loaded). A batch tile is 12 x rows by one panel (12 accumulators of the 32 registers,
// 12 independent chains to cover the multiply-add latency); one x row streams 3 panels at
// once. The same fused multiply-add chains as the AVX2 path, so the same bits. Compiled for
// AVX-512F whatever the build's baseline; only called when isa_detect() found it.
//
// Machines without AVX-512 run this tile too: native/test/matmul_avx512_simde.cpp compiles
// this file again with LCKV_AVX512_VIA_SIMDE, where SIMDe implements each intrinsic with
// AVX2 instructions.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

// Standard headers before the target pragma: an inline function compiled under it could be
// the copy the linker keeps for every caller, also on CPUs without the instructions.
#include <algorithm>
#include <vector>

#if defined(LCKV_AVX512_VIA_SIMDE)
#include <simde/x86/avx512.h>
#define LCKV_MM512(op) simde_mm512_##op
using Zmm = simde__m512;
#else
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,f16c,fma"))), apply_to = function)
#include <immintrin.h>
#else
#pragma GCC target("avx512f,avx2,f16c,fma")
// GCC 12's 512-bit conversions start from a self-initialized "undefined" vector, which its
// own -Wmaybe-uninitialized reports where they are inlined (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
#define LCKV_MM512(op) _mm512_##op
using Zmm = __m512;
#endif

#include "kernels/cpu/avx2_vec.h"
#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

namespace {

struct Avx512Vec {
  static constexpr int kLanes = 16, kDecodePanels = 3, kBatchRows = 12;
  using V = Zmm;
  static V zero() { return LCKV_MM512(setzero_ps)(); }
  static V splat(float x) { return LCKV_MM512(set1_ps)(x); }
  static V fma(V acc, V x, V w) { return LCKV_MM512(fmadd_ps)(x, w, acc); }
  static V loadu(const float* p) { return LCKV_MM512(loadu_ps)(p); }
  static void storeu(float* p, V v) { LCKV_MM512(storeu_ps)(p, v); }

  // Values index .. index + 15 of an F32/F16/BF16 array, as f32.
  template <DType T>
  static V load(const void* base, int64_t index) {
    if constexpr (T == DType::F32) {
      return loadu(static_cast<const float*>(base) + index);
    } else {
#if defined(LCKV_AVX512_VIA_SIMDE)
      // SIMDe 0.7.4 has no 16-lane f16/bf16 widening: two 8-lane halves instead.
      const V low = simde_mm512_castps256_ps512(avx2::load8<T>(base, index));
      return simde_mm512_insertf32x8(low, avx2::load8<T>(base, index + 8), 1);
#else
      const __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + index));
      if constexpr (T == DType::F16) return _mm512_cvtph_ps(half);
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));  // bf16: the top half of an f32
#endif
    }
  }
};

}  // namespace

void matmul_panels_avx512(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<Avx512Vec>::run(y, x, n, w, p0, p1);
}

}  // namespace lckv

#undef LCKV_MM512
#if defined(__clang__) && !defined(LCKV_AVX512_VIA_SIMDE)
#pragma clang attribute pop
#endif

#else

namespace lckv {
// Never called off x86-64: isa_available() offers the AVX-512 path only there.
void matmul_panels_avx512(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  matmul_panels_generic(y, x, n, w, p0, p1);
}
}  // namespace lckv

#endif
