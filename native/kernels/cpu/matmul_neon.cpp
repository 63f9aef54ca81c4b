// NEON panel matmul for arm64: each x row holds a panel's 16 outputs in four 4-lane
// accumulators; per column, one x value meets the panel's 16 weights (widened to f32 as
// they are loaded). A batch tile is 6 x rows by one panel (24 accumulators and 4 weight
// vectors of the 32 registers); one x row streams 3 panels at once. Every output is one
// fused multiply-add chain over its columns, so its result does not depend on the batch.
#include "kernels/cpu/matmul.h"

#if defined(__aarch64__)

#include "kernels/cpu/matmul_tiles.h"
#include "kernels/cpu/neon_vec.h"

namespace lckv {

namespace {

struct NeonTiles {
  static constexpr int kDecodePanels = 3, kBatchRows = 6;

  static void prefetch_l2(const void* line) { __builtin_prefetch(line, 0, 2); }

  // GCC keeps an accumulator array in registers only if the loops are unrolled before
  // scalar replacement runs; without the pragmas it stores them all every step.
  template <DType T, int MR, int NP>
  static void tile(float* acc, int64_t acc_stride, bool fresh, const float* x, int64_t x_stride, const uint8_t* panel,
                   int64_t panel_bytes, int64_t k0, int64_t k1) {
    float32x4_t a[MR][NP][4];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < 4; ++h)
          a[i][q][h] = fresh ? vdupq_n_f32(0.0f) : vld1q_f32(acc + i * acc_stride + q * kPanelRows + 4 * h);
    for (int64_t k = k0; k < k1; ++k) {
      float32x4_t wv[NP][4];
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < 4; ++h) wv[q][h] = neon::load4<T>(panel + q * panel_bytes, k * kPanelRows + 4 * h);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const float32x4_t xv = vdupq_n_f32(x[i * x_stride + k]);
#pragma GCC unroll 3
        for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
          for (int h = 0; h < 4; ++h) a[i][q][h] = vfmaq_f32(a[i][q][h], xv, wv[q][h]);
      }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < 4; ++h) vst1q_f32(acc + i * acc_stride + q * kPanelRows + 4 * h, a[i][q][h]);
  }
};

}  // namespace

void matmul_panels_neon(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<NeonTiles>::run(y, x, n, w, p0, p1);
}

}  // namespace lckv

#else

namespace lckv {
// Never called off arm64: isa_available() offers the NEON path only there.
void matmul_panels_neon(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  matmul_panels_generic(y, x, n, w, p0, p1);
}
}  // namespace lckv

#endif
