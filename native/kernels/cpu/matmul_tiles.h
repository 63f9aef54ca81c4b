// The panel matmul shared by every vector ISA path: the loops around a register tile and
// the tile itself. An ISA path supplies a `Vec` of its vector operations:
//   using V = <vector of kLanes f32>;  static constexpr int kLanes;  (kLanes divides 16)
//   static V zero(); static V splat(const float* x); static V fma(V acc, V x, V w);  // acc + x * w
//   static V loadu(const float*); static void storeu(float*, V);
//   template <DType T> static V load(const void* base, int64_t index);   // widened to f32
// and its tile sizes: kDecodePanels (panels one x row streams at once) and kBatchRows (x rows
// per tile when there are several). A tile adds columns [k0, k1) of MR x rows times NP
// consecutive panels to MR x (NP * 16) accumulators, one fused multiply-add per column in
// ascending order: every path computes the same bits (the avx512bf16 path feeds it column
// pairs instead: matmul_avx512bf16.cpp). Accumulators pass between column blocks through
// memory, exactly, so blocking never changes a result either. Templates only: instantiate
// in the ISA's own translation unit, after its target pragma.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/packed_weight.h"

namespace lckv {

template <typename Vec>
struct PanelTiles {
  static void run(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
    switch (w.dtype) {
      case DType::F32: panels<DType::F32>(y, x, n, w, p0, p1); break;
      case DType::F16: panels<DType::F16>(y, x, n, w, p0, p1); break;
      case DType::BF16: panels<DType::BF16>(y, x, n, w, p0, p1); break;
    }
  }

  // The same for a stored dtype known at compile time (a path that serves only one).
  template <DType T>
  static void panels(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
    thread_local std::vector<float> acc;
    const int64_t np = p1 - p0, panel_bytes = w.cols * kPanelRows * int64_t(dtype_size(T));
    const auto* first = static_cast<const uint8_t*>(w.data) + p0 * panel_bytes;
    const int64_t width = np * kPanelRows, r0 = p0 * kPanelRows, valid = std::min(width, w.rows - r0);
    // Finished outputs go straight to y, unless the last panel overhangs w.rows: then to
    // acc, whose valid columns are copied out. Between column blocks the accumulators pass
    // through acc, rows `width` apart (rows of y lie w.rows apart: in the same L1 sets).
    const bool direct = valid == width;
    for (int64_t i0 = 0; i0 < n; i0 += kChunkRows) {
      const int64_t rows = std::min(kChunkRows, n - i0);
      acc.resize(size_t(rows * width));
      const Out out = direct ? Out{y + i0 * w.rows + r0, w.rows} : Out{acc.data(), width};
      if (rows == 1)
        decode_row<T>(out.at, x + i0 * w.cols, w.cols, first, panel_bytes, np);
      else
        chunk<T>(acc.data(), width, out, x + i0 * w.cols, rows, w.cols, first, panel_bytes, np);
      if (!direct)
        for (int64_t i = 0; i < rows; ++i) std::copy_n(acc.data() + i * width, valid, y + (i0 + i) * w.rows + r0);
    }
  }

 private:
  // Columns per block: a block of one panel (4-8 KB) stays in L1 while every x tile of the
  // chunk meets it; x rows per chunk: their blocks stay in L2.
  static constexpr int64_t kBlockCols = 128;
  static constexpr int64_t kChunkRows = 10 * Vec::kBatchRows;

  // Where a tile stores its outputs: row i at at + i * stride.
  struct Out {
    float* at;
    int64_t stride;
  };

  // One x row: kDecodePanels panel streams at a time over all columns.
  template <DType T>
  static void decode_row(float* out, const float* x, int64_t cols, const uint8_t* first, int64_t panel_bytes, int64_t np) {
    constexpr int kW = Vec::kDecodePanels;
    int64_t p = 0;
    for (; p + kW <= np; p += kW)
      tile<T, 1, kW>(out + p * kPanelRows, 0, Out{out + p * kPanelRows, 0}, true, x, cols, first + p * panel_bytes,
                     panel_bytes, 0, cols);
    for (; p < np; ++p)
      tile<T, 1, 1>(out + p * kPanelRows, 0, Out{out + p * kPanelRows, 0}, true, x, cols, first + p * panel_bytes,
                    panel_bytes, 0, cols);
  }

  // Several x rows: column blocks outermost, then panels, then x tiles, so one panel block
  // is reused from L1 by every x tile. Each x tile prefetches its share of the next block.
  // The rows are split into tiles of as equal a height as possible (32 rows: 6, 6, 5, 5, 5,
  // 5, not five of 6 and a slow one of 2).
  template <DType T>
  static void chunk(float* acc, int64_t stride, Out out, const float* x, int64_t rows, int64_t cols,
                    const uint8_t* first, int64_t panel_bytes, int64_t np) {
    constexpr int64_t kMr = Vec::kBatchRows;
    const int64_t tiles = (rows + kMr - 1) / kMr, elem = int64_t(dtype_size(T));
    const int64_t base = rows / tiles, taller = rows % tiles;  // the first `taller` tiles get base + 1 rows
    for (int64_t k0 = 0; k0 < cols; k0 += kBlockCols) {
      const int64_t k1 = std::min(cols, k0 + kBlockCols);
      for (int64_t p = 0; p < np; ++p) {
        // The next unit of work: this block of the next panel, else the next block of the first.
        const int64_t next_p = p + 1 < np ? p + 1 : 0, next_k0 = p + 1 < np ? k0 : k1;
        const int64_t next_k1 = std::min(cols, next_k0 + kBlockCols);
        const uint8_t* next = first + next_p * panel_bytes + next_k0 * kPanelRows * elem;
        const int64_t next_lines = next_k0 < cols ? ((next_k1 - next_k0) * kPanelRows * elem + 63) / 64 : 0;
        for (int64_t t = 0; t < tiles; ++t) {
          for (int64_t l = next_lines * t / tiles; l < next_lines * (t + 1) / tiles; ++l) __builtin_prefetch(next + l * 64, 0, 2);
          const int64_t i = t * base + std::min(t, taller), height = base + (t < taller ? 1 : 0);
          const Out to = k1 == cols ? Out{out.at + i * out.stride + p * kPanelRows, out.stride}
                                    : Out{acc + i * stride + p * kPanelRows, stride};
          x_tile<T>(height, acc + i * stride + p * kPanelRows, stride, to, k0 == 0, x + i * cols, cols,
                    first + p * panel_bytes, panel_bytes, k0, k1);
        }
      }
    }
  }

  // A tile of `mr` rows (1 <= mr <= MR): the tile height is a template argument, so each
  // height gets its own fully unrolled tile.
  template <DType T, int MR = Vec::kBatchRows>
  static void x_tile(int64_t mr, float* acc, int64_t stride, Out out, bool fresh, const float* x, int64_t cols,
                     const uint8_t* panel, int64_t panel_bytes, int64_t k0, int64_t k1) {
    if constexpr (MR > 1)
      if (mr < MR) return x_tile<T, MR - 1>(mr, acc, stride, out, fresh, x, cols, panel, panel_bytes, k0, k1);
    tile<T, MR, 1>(acc, stride, out, fresh, x, cols, panel, panel_bytes, k0, k1);
  }

  // GCC keeps the accumulator array in registers only if these loops are unrolled before
  // scalar replacement runs (otherwise it stores them all every column): hence the pragmas,
  // whose counts are upper bounds on every path's trip counts.
  template <DType T, int MR, int NP>
  static void tile(const float* acc, int64_t acc_stride, Out out, bool fresh, const float* x, int64_t x_stride,
                   const uint8_t* panel, int64_t panel_bytes, int64_t k0, int64_t k1) {
    constexpr int kParts = int(kPanelRows) / Vec::kLanes;
    constexpr int64_t kColBytes = kPanelRows * int64_t(dtype_size(T));
    typename Vec::V a[MR][NP][kParts];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < kParts; ++h)
          a[i][q][h] = fresh ? Vec::zero() : Vec::loadu(acc + i * acc_stride + q * kPanelRows + Vec::kLanes * h);
    for (int64_t k = k0; k < k1; ++k) {
      // One x row streams its panels from memory: ask for them ~1 KB ahead of use. Integer
      // address arithmetic: near the end the hint points past the matrix, which a prefetch
      // tolerates and a pointer may not.
      if (MR == 1 && (k * kColBytes) % 64 == 0)
#pragma GCC unroll 4
        for (int q = 0; q < NP; ++q) {
          const uintptr_t ahead = reinterpret_cast<uintptr_t>(panel) + uintptr_t(q * panel_bytes + k * kColBytes + 1024);
          __builtin_prefetch(reinterpret_cast<const void*>(ahead), 0, 3);
        }
      typename Vec::V wv[NP][kParts];
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < kParts; ++h)
          wv[q][h] = Vec::template load<T>(panel + q * panel_bytes, k * kPanelRows + Vec::kLanes * h);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const typename Vec::V xv = Vec::splat(x + i * x_stride + k);
#pragma GCC unroll 4
        for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
          for (int h = 0; h < kParts; ++h) a[i][q][h] = Vec::fma(a[i][q][h], xv, wv[q][h]);
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int h = 0; h < kParts; ++h) Vec::storeu(out.at + i * out.stride + q * kPanelRows + Vec::kLanes * h, a[i][q][h]);
  }
};

}  // namespace lckv
