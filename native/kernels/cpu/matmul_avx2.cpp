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

#include <immintrin.h>

namespace lckv {

namespace {

template <DType T>
inline __m256 load8(const void* base, int64_t index) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + index);
  } else {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + index));
    if constexpr (T == DType::F16) return _mm256_cvtph_ps(half);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  }
}

// Fixed-order horizontal sum: the same for every tile shape.
inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

template <DType T, int NX, int NW>
inline void tile(float* y, int64_t y_stride, const float* x, const void* w, int64_t cols, int64_t r) {
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
      for (int j = 0; j < NW; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w) + uintptr_t(((r + NW + j) * cols + c) * int64_t(dtype_size(T)))), _MM_HINT_T0);
    __m256 wv[NW];
    for (int j = 0; j < NW; ++j) wv[j] = load8<T>(w, (r + j) * cols + c);
    for (int i = 0; i < NX; ++i) {
      const __m256 xv = _mm256_loadu_ps(x + i * cols + c);
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < NX; ++i)
    for (int j = 0; j < NW; ++j) {
      float sum = hsum(acc[i][j]);
      for (int64_t c = body; c < cols; ++c)
        sum += x[i * cols + c] * load_as_f32(w, T, size_t((r + j) * cols + c));
      y[i * y_stride + r + j] = sum;
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

// Weight rows [r0, r1) in tiles of NW against x rows [i0, i1) in tiles of up to MAX_NX.
// Weight rows go in blocks that stay in L2 while each x tile (in L1) meets every tile of
// the block, so x is read from L1 and each weight row from L2 per x tile.
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

// One x row (decode): 4 weight rows per tile, 4 independent FMA chains streaming weights.
// Several x rows: 4 x rows by 3 weight rows, 12 accumulators, so each loaded weight vector
// feeds 4 FMAs. Either way each output is the same FMA sequence over the same columns.
template <DType T>
void rows(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  constexpr int64_t kXChunk = 64;  // x rows per pass over the weights
  for (int64_t i0 = 0; i0 < n; i0 += kXChunk) {
    const int64_t i1 = i0 + kXChunk < n ? i0 + kXChunk : n;
    if (i1 - i0 == 1)
      row_tiles<T, 4, 1>(y, x, i0, i1, w, r0, r1);
    else
      row_tiles<T, 3, 4>(y, x, i0, i1, w, r0, r1);
  }
}

}  // namespace

void matmul_rows_avx2(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  switch (w.dtype) {
    case DType::F32: rows<DType::F32>(y, x, n, w, r0, r1); break;
    case DType::F16: rows<DType::F16>(y, x, n, w, r0, r1); break;
    case DType::BF16: rows<DType::BF16>(y, x, n, w, r0, r1); break;
  }
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
