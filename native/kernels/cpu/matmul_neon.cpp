// NEON matmul for arm64: register tiles of x rows by weight rows, weights widened to f32
// as they are loaded. Each (x row, weight row) pair owns one 4-lane accumulator stepping
// 4 columns at a time, so an output is the same FMA sequence in every tile shape and its
// result does not depend on the batch. AArch64 has 32 vector registers: the widest tile
// (4 x rows by 4 weight rows) holds 16 accumulators, 4 weight vectors and 1 x vector,
// with room to spare so the compiler need not spill inside the loop.
#include "kernels/cpu/matmul.h"

#if defined(__aarch64__)

#include <arm_neon.h>

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

// GCC keeps an accumulator array in registers only if the loops over x rows are unrolled
// before scalar replacement runs; without the pragmas it stores all 16 every step.
template <DType T, int NX, int NW>
inline void tile(float* y, int64_t y_stride, const float* x, const void* w, int64_t cols, int64_t r) {
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

// Rows i .. i + nx of x (nx <= MAX_NX) against weight rows r .. r + NW.
template <DType T, int NW, int MAX_NX>
void x_tile(float* y, int64_t y_stride, const float* x, int64_t nx, const void* w, int64_t cols, int64_t r) {
  if constexpr (MAX_NX >= 4) {
    if (nx >= 4) return tile<T, 4, NW>(y, y_stride, x, w, cols, r);
    if (nx == 3) return tile<T, 3, NW>(y, y_stride, x, w, cols, r);
  }
  if constexpr (MAX_NX >= 2) {
    if (nx == 2) return tile<T, 2, NW>(y, y_stride, x, w, cols, r);
  }
  tile<T, 1, NW>(y, y_stride, x, w, cols, r);
}

// Weight rows [r0, r1) in blocks that stay in L2 while every x tile of [i0, i1) meets
// them, so each weight row is read from memory once per chunk of x rows.
template <DType T, int NW, int MAX_NX>
void row_tiles(float* y, const float* x, int64_t i0, int64_t i1, const WeightView& w, int64_t r0, int64_t r1) {
  constexpr int64_t kBlock = 16 * NW;
  for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
    const int64_t b1 = b0 + kBlock < r1 ? b0 + kBlock : r1;
    for (int64_t i = i0; i < i1; i += MAX_NX) {
      float* yi = y + i * w.rows;
      const float* xi = x + i * w.cols;
      int64_t r = b0;
      for (; r + NW <= b1; r += NW) x_tile<T, NW, MAX_NX>(yi, w.rows, xi, i1 - i, w.data, w.cols, r);
      for (; r < b1; ++r) x_tile<T, 1, MAX_NX>(yi, w.rows, xi, i1 - i, w.data, w.cols, r);
    }
  }
}

// One x row (decode): 8 weight rows per tile, 8 independent FMA chains streaming weights.
// Several x rows: 4 x rows by 4 weight rows, so each loaded weight vector feeds 4 FMAs.
template <DType T>
void rows(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  constexpr int64_t kXChunk = 64;  // x rows per pass over the weights
  for (int64_t i0 = 0; i0 < n; i0 += kXChunk) {
    const int64_t i1 = i0 + kXChunk < n ? i0 + kXChunk : n;
    if (i1 - i0 == 1)
      row_tiles<T, 8, 1>(y, x, i0, i1, w, r0, r1);
    else
      row_tiles<T, 4, 4>(y, x, i0, i1, w, r0, r1);
  }
}

}  // namespace

void matmul_rows_neon(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  switch (w.dtype) {
    case DType::F32: rows<DType::F32>(y, x, n, w, r0, r1); break;
    case DType::F16: rows<DType::F16>(y, x, n, w, r0, r1); break;
    case DType::BF16: rows<DType::BF16>(y, x, n, w, r0, r1); break;
  }
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
