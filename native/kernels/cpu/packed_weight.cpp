#include "kernels/cpu/packed_weight.h"

#include <cstring>
#include <new>

namespace lckv {

namespace {

constexpr int64_t kReleaseRows = 256;  // source rows between rows_done() calls

// One panel: up to kPanelRows source rows of E-sized elements, transposed column by column.
template <typename E>
void pack_panel(E* dst, const E* src, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t l = 0; l < kPanelRows; ++l) dst[c * kPanelRows + l] = l < rows ? src[l * cols + c] : E(0);
}

}  // namespace

PackedWeight::PackedWeight(const WeightView& w, const std::function<void(int64_t)>& rows_done)
    : dtype_(w.dtype), rows_(w.rows), cols_(w.cols) {
  owned_ = allocate_large(size_t(bytes()));  // page-aligned: each panel column starts on its own cache line
  data_ = owned_.get();
  const size_t elem = dtype_size(w.dtype);
  int64_t released = 0;
  for (int64_t p = 0; p < panel_count(rows_); ++p) {
    const int64_t r0 = p * kPanelRows, rows = rows_ - r0 < kPanelRows ? rows_ - r0 : kPanelRows;
    uint8_t* dst = owned_.get() + size_t(r0 * cols_) * elem;
    const auto* src = static_cast<const uint8_t*>(w.data) + size_t(r0 * cols_) * elem;
    if (elem == 4)
      pack_panel(reinterpret_cast<uint32_t*>(dst), reinterpret_cast<const uint32_t*>(src), rows, cols_);
    else
      pack_panel(reinterpret_cast<uint16_t*>(dst), reinterpret_cast<const uint16_t*>(src), rows, cols_);
    if (rows_done && (r0 + rows - released >= kReleaseRows || r0 + rows == rows_)) rows_done(released = r0 + rows);
  }
}

}  // namespace lckv
