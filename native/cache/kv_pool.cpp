#include "cache/kv_pool.h"

#include "common/error.h"

namespace lckv {

KvPool::KvPool(int32_t n_slots, int64_t row_width, DType dtype, int64_t n_blocks, bool host_storage)
    : n_slots_(n_slots), row_width_(row_width), dtype_(dtype), n_blocks_(n_blocks) {
  if (n_blocks < 1) throw Error("INVALID_ARGUMENT", "the KV cache needs at least one block");
  const size_t bytes = size_t(n_slots) * size_t(n_blocks * kBlockTokens) * size_t(row_width) * dtype_size(dtype);
  // Mapped from the OS (common/large_buffer.h): untouched blocks cost no resident memory, and
  // blocks are handed out from the low addresses up, so what becomes resident stays close to
  // what is used, huge pages included.
  if (host_storage) {
    k_ = allocate_large(bytes);
    v_ = allocate_large(bytes);
  }
  free_.reserve(size_t(n_blocks));
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(int32_t(b));
}

bool KvPool::block_pool_alloc(int64_t n, std::vector<int32_t>& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (n > int64_t(free_.size())) return false;
  for (int64_t i = 0; i < n; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void KvPool::block_pool_free(std::vector<int32_t>& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = table.rbegin(); it != table.rend(); ++it)
    if (*it >= 0) free_.push_back(*it);
  table.clear();
}

void KvPool::block_pool_release(int32_t& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(id);
  id = -1;
}

int64_t KvPool::blocks_used() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return n_blocks_ - int64_t(free_.size());
}

uint64_t KvPool::bytes_per_block() const {
  return uint64_t(n_slots_) * 2 * kBlockTokens * uint64_t(row_width_) * dtype_size(dtype_);
}

KvView KvPool::view(int32_t slot, const std::vector<int32_t>& table) const {
  return KvView{k_.get() + row_offset(slot, 0), v_.get() + row_offset(slot, 0), dtype_, row_width_, table.data(),
                kBlockTokens};
}

}  // namespace lckv
