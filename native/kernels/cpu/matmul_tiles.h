// The loops around a matmul register tile, shared by every vector ISA path: x rows in
// chunks, weight rows in blocks that stay in L2 while each x tile (in L1) meets every tile
// of the block, and the choice of tile shape for the rows left. An ISA path supplies
//   template <DType T, int NX, int NW> static void tile(y, y_stride, x, w, cols, r);
// (NX x rows against weight rows r .. r + NW, every output the same instruction sequence
// whatever the tile shape), its decode tile width kDecodeW (one x row), its batch tile
// kBatchX x kBatchW, and static void prefetch_l2(const void* line). Templates only: instantiate it where the ISA's tile is compiled.
#pragma once
#include <cstdint>

#include "kernels/cpu/tensor_view.h"

namespace lckv {

template <typename Isa>
struct MatmulTiles {
  static void run(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
    switch (w.dtype) {
      case DType::F32: rows<DType::F32>(y, x, n, w, r0, r1); break;
      case DType::F16: rows<DType::F16>(y, x, n, w, r0, r1); break;
      case DType::BF16: rows<DType::BF16>(y, x, n, w, r0, r1); break;
    }
  }

 private:
  // Rows i .. i + nx of x (nx <= MAX_NX) against weight rows r .. r + NW.
  template <DType T, int NW, int MAX_NX>
  static void x_tile(float* y, int64_t y_stride, const float* x, int64_t nx, const void* w, int64_t cols, int64_t r) {
    if constexpr (MAX_NX >= 4) {
      if (nx >= 4) return Isa::template tile<T, 4, NW>(y, y_stride, x, w, cols, r);
      if (nx == 3) return Isa::template tile<T, 3, NW>(y, y_stride, x, w, cols, r);
    }
    if constexpr (MAX_NX >= 2) {
      if (nx == 2) return Isa::template tile<T, 2, NW>(y, y_stride, x, w, cols, r);
    }
    Isa::template tile<T, 1, NW>(y, y_stride, x, w, cols, r);
  }

  // Weight rows [r0, r1) in tiles of NW against x rows [i0, i1) in tiles of up to MAX_NX.
  // While the x tiles meet one block of weight rows, each issues the prefetch of its share
  // of the next block, so that block's stream from memory overlaps this one's arithmetic.
  template <DType T, int NW, int MAX_NX>
  static void row_tiles(float* y, const float* x, int64_t i0, int64_t i1, const WeightView& w, int64_t r0, int64_t r1) {
    constexpr int64_t kBlock = 8 * NW;
    const int64_t x_tiles = (i1 - i0 + MAX_NX - 1) / MAX_NX;
    for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
      const int64_t b1 = b0 + kBlock < r1 ? b0 + kBlock : r1;
      const int64_t next_end = b1 + kBlock < r1 ? b1 + kBlock : r1;
      for (int64_t i = i0, t = 0; i < i1; i += MAX_NX, ++t) {
        if (x_tiles > 1) prefetch_share(w, b1, next_end, t, x_tiles);
        float* yi = y + i * w.rows;
        const float* xi = x + i * w.cols;
        int64_t r = b0;
        for (; r + NW <= b1; r += NW) x_tile<T, NW, MAX_NX>(yi, w.rows, xi, i1 - i, w.data, w.cols, r);
        for (; r < b1; ++r) x_tile<T, 1, MAX_NX>(yi, w.rows, xi, i1 - i, w.data, w.cols, r);
      }
    }
  }

  // Share `part` of `parts` of the cache lines of weight rows [b0, b1), towards L2.
  static void prefetch_share(const WeightView& w, int64_t b0, int64_t b1, int64_t part, int64_t parts) {
    if (b0 >= b1) return;
    const int64_t row_bytes = w.cols * int64_t(dtype_size(w.dtype)), lines = ((b1 - b0) * row_bytes + 63) / 64;
    const auto* base = static_cast<const char*>(w.data) + b0 * row_bytes;
    for (int64_t l = lines * part / parts; l < lines * (part + 1) / parts; ++l) Isa::prefetch_l2(base + l * 64);
  }

  template <DType T>
  static void rows(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
    constexpr int64_t kXChunk = 64;  // x rows per pass over the weights
    for (int64_t i0 = 0; i0 < n; i0 += kXChunk) {
      const int64_t i1 = i0 + kXChunk < n ? i0 + kXChunk : n;
      if (i1 - i0 == 1)
        row_tiles<T, Isa::kDecodeW, 1>(y, x, i0, i1, w, r0, r1);
      else
        row_tiles<T, Isa::kBatchW, Isa::kBatchX>(y, x, i0, i1, w, r0, r1);
    }
  }
};

}  // namespace lckv
