// AVX2 + FMA + F16C matmul: register tiles of x rows by weight rows (at most 12
// accumulators, within the 16 ymm registers), weights widened to f32 as they are loaded.
// Compiled for AVX2 whatever the build's baseline; only called when isa_detect() found
// the instructions.
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

// One x row (decode): 4 weight rows per tile, 4 independent FMA chains streaming weights.
// Several x rows: 4 x rows by 3 weight rows, 12 accumulators, so each loaded weight vector
// feeds 4 FMAs. Either way each output is the same FMA sequence over the same columns.
struct Avx2Tiles {
  static constexpr int kDecodeW = 4, kBatchX = 4, kBatchW = 3;

  static void prefetch_l2(const void* line) { _mm_prefetch(static_cast<const char*>(line), _MM_HINT_T1); }

  template <DType T, int NX, int NW>
  static void tile(float* y, int64_t y_stride, const float* x, const void* w, int64_t cols, int64_t r) {
    __m256 acc[NX][NW];
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_setzero_ps();
    const int64_t body = cols & ~int64_t(7);
    constexpr int64_t kLine = 64 / int64_t(T == DType::F32 ? 4 : 2);  // weights per cache line
    for (int64_t c = 0; c < body; c += 8) {
      // One x row streams weights once: fetch the next tile's rows while this one computes,
      // so short rows (hidden sizes of a few hundred) do not wait for the prefetcher to ramp up.
      // Integer address arithmetic: past the last tile the hint points beyond the matrix,
      // which a prefetch tolerates and a pointer may not.
      if (NX == 1 && (c & (kLine - 1)) == 0)
        for (int j = 0; j < NW; ++j) {
          const uintptr_t ahead = uintptr_t(((r + NW + j) * cols + c) * int64_t(dtype_size(T)));
          _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w) + ahead), _MM_HINT_T0);
        }
      __m256 wv[NW];
      for (int j = 0; j < NW; ++j) wv[j] = avx2::load8<T>(w, (r + j) * cols + c);
      for (int i = 0; i < NX; ++i) {
        const __m256 xv = _mm256_loadu_ps(x + i * cols + c);
        for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NW; ++j) {
        float sum = avx2::hsum(acc[i][j]);
        for (int64_t c = body; c < cols; ++c)
          sum += x[i * cols + c] * load_as_f32(w, T, size_t((r + j) * cols + c));
        y[i * y_stride + r + j] = sum;
      }
  }
};

}  // namespace

void matmul_rows_avx2(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  MatmulTiles<Avx2Tiles>::run(y, x, n, w, r0, r1);
}

}  // namespace lckv

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

namespace lckv {
void matmul_rows_avx2(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  matmul_rows_generic(y, x, n, w, r0, r1);
}
}  // namespace lckv

#endif
