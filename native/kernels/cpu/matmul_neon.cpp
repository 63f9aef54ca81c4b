// NEON matmul for arm64: register tiles of x rows by weight rows, weights widened to f32
// as they are loaded. Each (x row, weight row) pair owns one 4-lane accumulator stepping
// 4 columns at a time, so an output is the same FMA sequence in every tile shape and its
// result does not depend on the batch. AArch64 has 32 vector registers: the widest tile
// (4 x rows by 4 weight rows) holds 16 accumulators, 4 weight vectors and 1 x vector,
// with room to spare so the compiler need not spill inside the loop.
#include "kernels/cpu/matmul.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

namespace {

// Columns index .. index + 3 of a weight matrix, widened to f32.
template <DType T>
inline float32x4_t load4(const void* base, int64_t index) {
  if constexpr (T == DType::F32) {
    return vld1q_f32(static_cast<const float*>(base) + index);
  } else if constexpr (T == DType::F16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(base) + index)));
  } else {
    // bf16 is the top half of an f32: shift each value into the high 16 bits.
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(base) + index), 16));
  }
}

// One x row (decode): 8 weight rows per tile, 8 independent FMA chains streaming weights.
// Several x rows: 4 x rows by 4 weight rows, so each loaded weight vector feeds 4 FMAs.
struct NeonTiles {
  static constexpr int kDecodeW = 8, kBatchX = 4, kBatchW = 4;

  static void prefetch_l2(const void* line) { __builtin_prefetch(line, 0, 2); }

  // GCC keeps an accumulator array in registers only if the loops over x rows are unrolled
  // before scalar replacement runs; without the pragmas it stores all 16 every step.
  template <DType T, int NX, int NW>
  static void tile(float* y, int64_t y_stride, const float* x, const void* w, int64_t cols, int64_t r) {
    float32x4_t acc[NX][NW] = {};
    const int64_t body = cols & ~int64_t(3);
    for (int64_t c = 0; c < body; c += 4) {
      float32x4_t wv[NW];
      for (int j = 0; j < NW; ++j) wv[j] = load4<T>(w, (r + j) * cols + c);
#pragma GCC unroll 4
      for (int i = 0; i < NX; ++i) {
        const float32x4_t xv = vld1q_f32(x + i * cols + c);
        for (int j = 0; j < NW; ++j) acc[i][j] = vfmaq_f32(acc[i][j], xv, wv[j]);
      }
    }
    float sum[NX][NW];
#pragma GCC unroll 4
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NW; ++j) sum[i][j] = vaddvq_f32(acc[i][j]);  // one fixed order for every tile
    for (int i = 0; i < NX; ++i)
      for (int j = 0; j < NW; ++j) {
        for (int64_t c = body; c < cols; ++c)
          sum[i][j] += x[i * cols + c] * load_as_f32(w, T, size_t((r + j) * cols + c));
        y[i * y_stride + r + j] = sum[i][j];
      }
  }
};

}  // namespace

void matmul_rows_neon(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  MatmulTiles<NeonTiles>::run(y, x, n, w, r0, r1);
}

}  // namespace lckv

#else

namespace lckv {
// Never called off arm64: isa_available() offers the NEON path only there.
void matmul_rows_neon(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  matmul_rows_generic(y, x, n, w, r0, r1);
}
}  // namespace lckv

#endif
