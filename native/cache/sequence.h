// One sequence's place in the KV pool: its block table (shared by every cached layer)
// and how many positions are final. Blocks return to the pool when the sequence is
// cleared or destroyed.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "cache/kv_pool.h"

namespace lckv {

class Sequence {
 public:
  // max_positions: the most the sequence may hold (the model's context). Its block table
  // takes that room up front (at most the pool's blocks: a config may claim a huge context),
  // so a decode step that opens a block never reallocates it.
  explicit Sequence(std::shared_ptr<KvPool> pool, int64_t max_positions = 0) : pool_(std::move(pool)) {
    const int64_t context_blocks = (max_positions + KvPool::kBlockTokens - 1) / KvPool::kBlockTokens;
    table_.reserve(size_t(std::min<int64_t>(context_blocks, pool_->blocks_total())));
  }
  ~Sequence() { pool_->block_pool_free(table_); }
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Makes room for positions [0, positions); throws KV_BUDGET_EXCEEDED (taking no block)
  // when the pool has too few free blocks.
  void reserve(int64_t positions);
  // Frees every block; the sequence is empty again.
  void clear();
  // Returns the blocks holding only positions < pos to the pool (their table entries become
  // -1): for a cache that no query reads that far back (every reader sliding).
  void drop_before(int64_t pos);
  // Rows [pos0, pos0 + n) of one slot: set to zero, or stored from f32 k/v [n, row_width].
  void zero(int32_t slot, int64_t pos0, int64_t n);
  void write(int32_t slot, int64_t pos0, int64_t n, const float* k, const float* v);
  KvView view(int32_t slot) const { return pool_->view(slot, table_); }

  int64_t length() const { return length_; }  // positions whose K/V are final
  void set_length(int64_t n) { length_ = n; }
  int64_t blocks() const { return int64_t(table_.size()); }  // spanned, dropped ones included
  // [blocks] block ids (-1 for dropped ones): what a device engine copies to its own tables.
  const std::vector<int32_t>& table() const { return table_; }

 private:
  int64_t row(int64_t pos) const {
    return int64_t(table_[size_t(pos / KvPool::kBlockTokens)]) * KvPool::kBlockTokens + pos % KvPool::kBlockTokens;
  }

  std::shared_ptr<KvPool> pool_;
  std::vector<int32_t> table_;  // [blocks]: position p lives in block table_[p / kBlockTokens]
  int64_t length_ = 0;
  int64_t dropped_ = 0;  // leading blocks returned by drop_before
};

}  // namespace lckv
