// The K/V memory of every sequence of one model: a pool of fixed-size blocks of
// kBlockTokens positions, for the cached layers only (LCKV stores the layers that some
// layer attends to, nothing else). A block holds its positions for every cached layer, so
// one block table per sequence serves them all. The pool owns the memory; sequences own
// block ids (native/cache/sequence.h).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/large_buffer.h"
#include "kernels/cpu/tensor_view.h"

namespace lckv {

class KvPool {
 public:
  static constexpr int32_t kBlockTokens = 16;

  // n_slots cached layers; one position of one slot is row_width = n_kv_heads * head_dim
  // values. Memory is reserved, not touched: pages become resident as blocks are written.
  // Without host_storage the pool only hands out block ids: a device engine keeps the rows
  // in its own memory (same layout), and k_row / v_row / view must not be called.
  KvPool(int32_t n_slots, int64_t row_width, DType dtype, int64_t n_blocks, bool host_storage = true);

  // Appends n free block ids to `table`, or returns false (taking none) when fewer are free.
  bool block_pool_alloc(int64_t n, std::vector<int32_t>& table);
  // Returns every block of `table` to the pool and clears it (entries of -1 hold none).
  void block_pool_free(std::vector<int32_t>& table);
  // Returns one block to the pool; `id` becomes -1.
  void block_pool_release(int32_t& id);

  int64_t blocks_total() const { return n_blocks_; }
  int64_t blocks_used() const;
  int64_t blocks_free() const { return n_blocks_ - blocks_used(); }
  uint64_t bytes_total() const { return uint64_t(n_blocks_) * bytes_per_block(); }
  uint64_t bytes_per_block() const;

  int64_t row_width() const { return row_width_; }
  DType dtype() const { return dtype_; }
  // Row `row` (= block * kBlockTokens + offset) of one slot's keys or values.
  uint8_t* k_row(int32_t slot, int64_t row) { return k_.get() + row_offset(slot, row); }
  uint8_t* v_row(int32_t slot, int64_t row) { return v_.get() + row_offset(slot, row); }
  // One slot's K/V read through `table` (positions p < table.size() * kBlockTokens).
  KvView view(int32_t slot, const std::vector<int32_t>& table) const;

 private:
  size_t row_offset(int32_t slot, int64_t row) const {
    return (size_t(slot) * size_t(n_blocks_ * kBlockTokens) + size_t(row)) * size_t(row_width_) * dtype_size(dtype_);
  }

  int32_t n_slots_;
  int64_t row_width_;
  DType dtype_;
  int64_t n_blocks_;
  LargeBuffer k_, v_;  // [slot, n_blocks * kBlockTokens, row_width] in dtype_
  std::vector<int32_t> free_;         // ids of free blocks; the last is taken first
  mutable std::mutex mutex_;          // sequences are freed on the JavaScript thread, filled on workers
};

}  // namespace lckv
