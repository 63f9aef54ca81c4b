// Linear weights rearranged once, at load, for the CPU matmul kernels: panels of
// kPanelRows consecutive rows, each panel stored column by column ([cols][kPanelRows]) in
// the checkpoint's own dtype. A kernel then streams one contiguous run of memory per panel,
// and holds kPanelRows outputs of an x row in vector registers while it walks the columns:
// every output is one multiply-add chain over its columns in ascending order, whatever the
// number of x rows, which is what makes a row's result independent of its batch.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "common/large_buffer.h"
#include "kernels/cpu/tensor_view.h"

namespace lckv {

constexpr int64_t kPanelRows = 16;

inline int64_t panel_count(int64_t rows) { return (rows + kPanelRows - 1) / kPanelRows; }

// Element (r, c) of the logical [rows, cols] matrix sits at panel r / kPanelRows, offset
// c * kPanelRows + r % kPanelRows. The last panel is padded with zero rows.
struct PackedView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
};

class PackedWeight {
 public:
  PackedWeight() = default;
  // Copies `w` into panels. After each stretch of source rows it calls rows_done(r): rows
  // below r are no longer read, so the caller may release their memory while packing runs.
  explicit PackedWeight(const WeightView& w, const std::function<void(int64_t)>& rows_done = nullptr);

  PackedView view() const { return PackedView{data_, dtype_, rows_, cols_}; }
  uint64_t bytes() const { return uint64_t(panel_count(rows_) * kPanelRows * cols_) * dtype_size(dtype_); }

 private:
  LargeBuffer owned_;
  const void* data_ = nullptr;
  DType dtype_ = DType::F32;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace lckv
