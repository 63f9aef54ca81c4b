#include "cache/sequence.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"
#include "kernels/cpu/ops.h"

namespace lckv {

void Sequence::reserve(int64_t positions) {
  const int64_t need = (positions + KvPool::kBlockTokens - 1) / KvPool::kBlockTokens - blocks();
  if (need <= 0) return;
  if (!pool_->block_pool_alloc(need, table_))
    throw Error("KV_BUDGET_EXCEEDED", std::to_string(positions) + " positions need " + std::to_string(need) +
                                          " more KV blocks; " + std::to_string(pool_->blocks_free()) + " of " +
                                          std::to_string(pool_->blocks_total()) + " are free");
}

void Sequence::clear() {
  pool_->block_pool_free(table_);
  length_ = 0;
  dropped_ = 0;
}

void Sequence::drop_before(int64_t pos) {
  const int64_t whole = std::min<int64_t>(pos / KvPool::kBlockTokens, blocks());
  for (; dropped_ < whole; ++dropped_) pool_->block_pool_release(table_[size_t(dropped_)]);
}

void Sequence::zero(int32_t slot, int64_t pos0, int64_t n) {
  const size_t bytes = size_t(pool_->row_width()) * dtype_size(pool_->dtype());
  for (int64_t p = pos0; p < pos0 + n; ++p) {
    std::memset(pool_->k_row(slot, row(p)), 0, bytes);
    std::memset(pool_->v_row(slot, row(p)), 0, bytes);
  }
}

void Sequence::write(int32_t slot, int64_t pos0, int64_t n, const float* k, const float* v) {
  const int64_t w = pool_->row_width();
  for (int64_t i = 0; i < n; ++i) {
    convert_from_f32(pool_->k_row(slot, row(pos0 + i)), pool_->dtype(), k + i * w, w);
    convert_from_f32(pool_->v_row(slot, row(pos0 + i)), pool_->dtype(), v + i * w, w);
  }
}

}  // namespace lckv
