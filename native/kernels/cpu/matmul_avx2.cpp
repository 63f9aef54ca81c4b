// AVX2 + FMA + F16C panel matmul: each x row holds a panel's 16 outputs in two ymm
// accumulators; per column, one broadcast of x meets the panel's 16 weights (two loads,
// widened to f32 as they are loaded). A batch tile is 6 x rows by one panel (12
// accumulators, 2 weight vectors, 1 broadcast: 15 of the 16 ymm registers); one x row
// streams 3 panels at once (6 accumulators). Compiled for AVX2 whatever the build's
// baseline; only called when isa_detect() found the instructions.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,f16c,fma")
#endif

#include "kernels/cpu/avx2_vec.h"
#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

namespace {

struct Avx2Tiles {
  static constexpr int kDecodePanels = 3, kBatchRows = 6;

  static void prefetch_l2(const void* line) { _mm_prefetch(static_cast<const char*>(line), _MM_HINT_T1); }

  // The loops over MR, NP and the two halves are unrolled before scalar replacement runs,
  // so the accumulators live in registers (otherwise GCC stores them all every column).
  template <DType T, int MR, int NP>
  static void tile(float* acc, int64_t acc_stride, bool fresh, const float* x, int64_t x_stride, const uint8_t* panel,
                   int64_t panel_bytes, int64_t k0, int64_t k1) {
    constexpr int64_t kElem = T == DType::F32 ? 4 : 2, kColBytes = kPanelRows * kElem;
    __m256 a[MR][NP][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h)
          a[i][q][h] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + i * acc_stride + q * kPanelRows + 8 * h);
    for (int64_t k = k0; k < k1; ++k) {
      // One x row streams its panels from memory: ask for them ~1 KB ahead of use. Integer
      // address arithmetic: near the end the hint points past the matrix, which a prefetch
      // tolerates and a pointer may not.
      if (MR == 1 && (k * kColBytes) % 64 == 0)
#pragma GCC unroll 3
        for (int q = 0; q < NP; ++q) {
          const uintptr_t ahead = reinterpret_cast<uintptr_t>(panel) + uintptr_t(q * panel_bytes + k * kColBytes + 1024);
          _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
        }
      __m256 wv[NP][2];
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) wv[q][h] = avx2::load8<T>(panel + q * panel_bytes, k * kPanelRows + 8 * h);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 xv = _mm256_broadcast_ss(x + i * x_stride + k);
#pragma GCC unroll 3
        for (int q = 0; q < NP; ++q)
#pragma GCC unroll 2
          for (int h = 0; h < 2; ++h) a[i][q][h] = _mm256_fmadd_ps(xv, wv[q][h], a[i][q][h]);
      }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) _mm256_storeu_ps(acc + i * acc_stride + q * kPanelRows + 8 * h, a[i][q][h]);
  }
};

}  // namespace

void matmul_panels_avx2(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<Avx2Tiles>::run(y, x, n, w, p0, p1);
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
