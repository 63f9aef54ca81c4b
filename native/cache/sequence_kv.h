// The K/V of one sequence for the cached layers only (LCKV stores the layers that some
// layer attends to, nothing else). Contiguous per layer; grows by doubling.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/tensor_view.h"

namespace lckv {

class SequenceKv {
 public:
  // n_slots cached layers, each row (one position) is row_width = n_kv_heads * head_dim values.
  SequenceKv(int32_t n_slots, int64_t row_width, DType dtype);

  void reserve(int64_t positions);
  void zero(int32_t slot, int64_t pos0, int64_t n);
  // Stores rows [pos0, pos0 + n) of one slot from f32 k/v of shape [n, row_width].
  void write(int32_t slot, int64_t pos0, int64_t n, const float* k, const float* v);
  KvView view(int32_t slot) const;

  int64_t length() const { return length_; }  // positions whose K/V are final
  void set_length(int64_t n) { length_ = n; }
  uint64_t bytes_reserved() const;

 private:
  int64_t row_width_;
  DType dtype_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  std::vector<std::vector<uint8_t>> k_, v_;  // [slot] -> [capacity, row_width] in dtype_
};

}  // namespace lckv
