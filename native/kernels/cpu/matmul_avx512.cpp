// AVX-512 matmul: tiles of up to 4 x rows by 4 weight rows, 16 accumulators in
// registers, weights widened to f32 as they are loaded. Compiled for AVX-512 whatever
// the build's baseline; only called when isa_detect() found the instructions.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,f16c,fma")
// GCC 12's own intrinsics headers initialise "undefined" vectors from themselves
// (_mm512_undefined_ps), which -Wuninitialized reports at every use; nothing of ours.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

namespace lckv {

namespace {

template <DType T>
inline __m512 load16(const void* base, int64_t index, __mmask16 mask) {
  if constexpr (T == DType::F32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(base) + index);
  } else {
    const __m256i half = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + index);
    if constexpr (T == DType::F16) return _mm512_cvtph_ps(half);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
  }
}

// y[i, r + j] for i < NX, j < NW. Each accumulator sees the same FMA sequence for any
// NX/NW, which is what makes the result batch-invariant.
template <DType T, int NX, int NW>
inline void tile(float* y, int64_t y_stride, const float* x, const void* w, int64_t cols, int64_t r) {
  __m512 acc[NX][NW];
  for (int i = 0; i < NX; ++i)
    for (int j = 0; j < NW; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += 16) {
    const __mmask16 mask = cols - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cols - c)) - 1);
    __m512 wv[NW];
    for (int j = 0; j < NW; ++j) wv[j] = load16<T>(w, (r + j) * cols + c, mask);
    for (int i = 0; i < NX; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * cols + c);
      for (int j = 0; j < NW; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < NX; ++i)
    for (int j = 0; j < NW; ++j) y[i * y_stride + r + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <DType T, int NW>
void rows_for_x_tile(float* y, int64_t y_stride, const float* x, int64_t nx, const void* w, int64_t cols,
                     int64_t r) {
  switch (nx) {
    case 4: tile<T, 4, NW>(y, y_stride, x, w, cols, r); break;
    case 3: tile<T, 3, NW>(y, y_stride, x, w, cols, r); break;
    case 2: tile<T, 2, NW>(y, y_stride, x, w, cols, r); break;
    default: tile<T, 1, NW>(y, y_stride, x, w, cols, r); break;
  }
}

template <DType T>
void rows(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  // Chunks of x rows small enough to stay in L2 while the weight rows stream past.
  constexpr int64_t kXChunk = 64;
  for (int64_t i0 = 0; i0 < n; i0 += kXChunk) {
    const int64_t i1 = i0 + kXChunk < n ? i0 + kXChunk : n;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4)
      for (int64_t i = i0; i < i1; i += 4)
        rows_for_x_tile<T, 4>(y + i * w.rows, w.rows, x + i * w.cols, i1 - i < 4 ? i1 - i : 4, w.data, w.cols, r);
    for (; r < r1; ++r)
      for (int64_t i = i0; i < i1; i += 4)
        rows_for_x_tile<T, 1>(y + i * w.rows, w.rows, x + i * w.cols, i1 - i < 4 ? i1 - i : 4, w.data, w.cols, r);
  }
}

}  // namespace

void matmul_rows_avx512(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
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
void matmul_rows_avx512(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  matmul_rows_generic(y, x, n, w, r0, r1);
}
}  // namespace lckv

#endif
