#include "cache/sequence_kv.h"

#include <cstring>

#include "kernels/cpu/ops.h"

namespace lckv {

SequenceKv::SequenceKv(int32_t n_slots, int64_t row_width, DType dtype)
    : row_width_(row_width), dtype_(dtype), k_(size_t(n_slots)), v_(size_t(n_slots)) {}

void SequenceKv::reserve(int64_t positions) {
  if (positions <= capacity_) return;
  int64_t cap = capacity_ ? capacity_ : 64;
  while (cap < positions) cap *= 2;
  const size_t bytes = size_t(cap * row_width_) * dtype_size(dtype_);
  for (auto* side : {&k_, &v_})
    for (auto& buf : *side) buf.resize(bytes);
  capacity_ = cap;
}

void SequenceKv::zero(int32_t slot, int64_t pos0, int64_t n) {
  const size_t row = size_t(row_width_) * dtype_size(dtype_);
  std::memset(k_[size_t(slot)].data() + size_t(pos0) * row, 0, size_t(n) * row);
  std::memset(v_[size_t(slot)].data() + size_t(pos0) * row, 0, size_t(n) * row);
}

void SequenceKv::write(int32_t slot, int64_t pos0, int64_t n, const float* k, const float* v) {
  const size_t row = size_t(row_width_) * dtype_size(dtype_);
  convert_from_f32(k_[size_t(slot)].data() + size_t(pos0) * row, dtype_, k, n * row_width_);
  convert_from_f32(v_[size_t(slot)].data() + size_t(pos0) * row, dtype_, v, n * row_width_);
}

KvView SequenceKv::view(int32_t slot) const {
  return KvView{k_[size_t(slot)].data(), v_[size_t(slot)].data(), dtype_, row_width_};
}

uint64_t SequenceKv::bytes_reserved() const {
  return uint64_t(capacity_ * row_width_) * dtype_size(dtype_) * 2 * k_.size();
}

}  // namespace lckv
