// AVX-512 building blocks shared by the 16-lane matmul kernels: the 512-bit intrinsics (the
// compiler's, or SIMDe's when a test build defines LCKV_AVX512_VIA_SIMDE, so a CPU without
// AVX-512 runs the same code through AVX2 instructions) and Avx512Vec, the f32 operations
// of a panel tile (matmul_tiles.h). Include only after the kernel's target pragma, in a
// translation unit that runs only where isa_detect() found the instructions.
#pragma once

#if defined(LCKV_AVX512_VIA_SIMDE)
#include <simde/x86/avx512.h>
#define LCKV_MM512(op) simde_mm512_##op
namespace lckv::avx512 {
using Zmm = simde__m512;
using Zmmi = simde__m512i;
using ZmmBh = simde__m512bh;
}  // namespace lckv::avx512
#else
// GCC 12's 512-bit conversions start from a self-initialized "undefined" vector, which its
// own -Wmaybe-uninitialized reports where they are inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#define LCKV_MM512(op) _mm512_##op
namespace lckv::avx512 {
using Zmm = __m512;
using Zmmi = __m512i;
using ZmmBh = __m512bh;
}  // namespace lckv::avx512
#endif

#include <cstdint>

#include "common/dtype.h"
#include "kernels/cpu/avx2_vec.h"

namespace lckv::avx512 {
// Unnamed: the native and the SIMDe builds of a kernel each get their own Vec, so their
// tile instantiations can never be merged by the linker.
namespace {

struct Avx512Vec {
  static constexpr int kLanes = 16, kDecodePanels = 3, kBatchRows = 12;
  using V = Zmm;
  static V zero() { return LCKV_MM512(setzero_ps)(); }
  static V splat(const float* x) { return LCKV_MM512(set1_ps)(*x); }
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
}  // namespace lckv::avx512
