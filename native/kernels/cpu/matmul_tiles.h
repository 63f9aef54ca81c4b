// The loops around a panel matmul register tile, shared by every vector ISA path. An ISA
// path supplies
//   template <DType T, int MR, int NP>
//   static void tile(float* acc, int64_t acc_stride, bool fresh, const float* x, int64_t x_stride,
//                    const uint8_t* panel, int64_t panel_bytes, int64_t k0, int64_t k1);
// which adds columns [k0, k1) of MR x rows times NP consecutive panels to MR x (NP * 16)
// accumulators (rows acc_stride floats apart, zero first when `fresh`), one multiply-add
// per column in ascending order; its decode width kDecodePanels (NP for one x row), its
// batch height kBatchRows (MR for several), and static void prefetch_l2(const void* line).
// Accumulators pass between column blocks through memory, exactly, so blocking never
// changes a result. Templates only: instantiate where the ISA's tile is compiled.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/packed_weight.h"

namespace lckv {

template <typename Isa>
struct PanelTiles {
  static void run(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
    switch (w.dtype) {
      case DType::F32: panels<DType::F32>(y, x, n, w, p0, p1); break;
      case DType::F16: panels<DType::F16>(y, x, n, w, p0, p1); break;
      case DType::BF16: panels<DType::BF16>(y, x, n, w, p0, p1); break;
    }
  }

 private:
  // Columns per block: a block of one panel (4-8 KB) stays in L1 while every x tile of the
  // chunk meets it; x rows per chunk: their blocks stay in L2.
  static constexpr int64_t kBlockCols = 128;
  static constexpr int64_t kChunkRows = 10 * Isa::kBatchRows;

  template <DType T>
  static void panels(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
    thread_local std::vector<float> acc;
    const int64_t np = p1 - p0, panel_bytes = w.cols * kPanelRows * int64_t(dtype_size(T));
    const auto* first = static_cast<const uint8_t*>(w.data) + p0 * panel_bytes;
    for (int64_t i0 = 0; i0 < n; i0 += kChunkRows) {
      const int64_t rows = std::min(kChunkRows, n - i0), stride = np * kPanelRows;
      acc.resize(size_t(rows * stride));
      if (rows == 1)
        decode_row<T>(acc.data(), x + i0 * w.cols, w.cols, first, panel_bytes, np);
      else
        chunk<T>(acc.data(), stride, x + i0 * w.cols, rows, w.cols, first, panel_bytes, np);
      const int64_t r0 = p0 * kPanelRows, valid = std::min(stride, w.rows - r0);
      for (int64_t i = 0; i < rows; ++i) std::copy_n(acc.data() + i * stride, valid, y + (i0 + i) * w.rows + r0);
    }
  }

  // One x row: kDecodePanels panel streams at a time over all columns.
  template <DType T>
  static void decode_row(float* acc, const float* x, int64_t cols, const uint8_t* first, int64_t panel_bytes, int64_t np) {
    constexpr int kW = Isa::kDecodePanels;
    int64_t p = 0;
    for (; p + kW <= np; p += kW)
      Isa::template tile<T, 1, kW>(acc + p * kPanelRows, 0, true, x, cols, first + p * panel_bytes, panel_bytes, 0, cols);
    for (; p < np; ++p)
      Isa::template tile<T, 1, 1>(acc + p * kPanelRows, 0, true, x, cols, first + p * panel_bytes, panel_bytes, 0, cols);
  }

  // Several x rows: column blocks outermost, then panels, then x tiles, so one panel block
  // is reused from L1 by every x tile. Each x tile prefetches its share of the next block.
  // The rows are split into tiles of as equal a height as possible (32 rows: 6, 6, 5, 5, 5,
  // 5, not five of 6 and a slow one of 2).
  template <DType T>
  static void chunk(float* acc, int64_t stride, const float* x, int64_t rows, int64_t cols, const uint8_t* first,
                    int64_t panel_bytes, int64_t np) {
    constexpr int64_t kMr = Isa::kBatchRows;
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
          for (int64_t l = next_lines * t / tiles; l < next_lines * (t + 1) / tiles; ++l) Isa::prefetch_l2(next + l * 64);
          const int64_t i = t * base + std::min(t, taller), height = base + (t < taller ? 1 : 0);
          x_tile<T>(height, acc + i * stride + p * kPanelRows, stride, k0 == 0, x + i * cols, cols,
                    first + p * panel_bytes, panel_bytes, k0, k1);
        }
      }
    }
  }

  template <DType T>
  static void x_tile(int64_t mr, float* acc, int64_t stride, bool fresh, const float* x, int64_t cols,
                     const uint8_t* panel, int64_t panel_bytes, int64_t k0, int64_t k1) {
    static_assert(Isa::kBatchRows == 6, "x_tile dispatches tiles of 1 to 6 rows");
    switch (mr) {
      case 1: return Isa::template tile<T, 1, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
      case 2: return Isa::template tile<T, 2, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
      case 3: return Isa::template tile<T, 3, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
      case 4: return Isa::template tile<T, 4, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
      case 5: return Isa::template tile<T, 5, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
      default: return Isa::template tile<T, Isa::kBatchRows, 1>(acc, stride, fresh, x, cols, panel, panel_bytes, k0, k1);
    }
  }
};

}  // namespace lckv
