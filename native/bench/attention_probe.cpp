#include "bench/attention_probe.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <random>

#include "cache/kv_pool.h"

namespace lckv {

namespace {

// One layer's worth of K/V for `batch` sequences of `context` positions, in a pool of the
// engine's own kind (its memory, its block size), the blocks handed out in shuffled order.
struct PagedCache {
  std::unique_ptr<KvPool> pool;
  std::vector<std::vector<int32_t>> tables;  // [batch][blocks per sequence]
};

PagedCache make_cache(int64_t batch, int64_t context, int64_t row_width, std::mt19937& rng) {
  const int64_t blocks = (context + KvPool::kBlockTokens - 1) / KvPool::kBlockTokens;
  PagedCache c;
  c.pool = std::make_unique<KvPool>(1, row_width, DType::F16, batch * blocks);
  // f16 values in [0.125, 0.25): normal, varied, and no overflow in any sum.
  for (int64_t r = 0; r < batch * blocks * KvPool::kBlockTokens; ++r)
    for (uint8_t* row : {c.pool->k_row(0, r), c.pool->v_row(0, r)})
      for (int64_t i = 0; i < row_width; ++i) reinterpret_cast<uint16_t*>(row)[i] = uint16_t(0x3000 | (rng() & 0x3ff));
  std::vector<int32_t> ids(size_t(batch * blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (int64_t s = 0; s < batch; ++s) c.tables.emplace_back(ids.begin() + s * blocks, ids.begin() + (s + 1) * blocks);
  return c;
}

}  // namespace

AttentionProbe probe_decode_attention(const AttentionShape& shape, int64_t batch, int64_t context, int64_t stream_bytes,
                                      int32_t reps, ThreadPool& pool) {
  const int64_t row_width = int64_t(shape.n_kv_heads) * shape.head_dim, q_width = int64_t(shape.n_heads) * shape.head_dim;
  AttentionProbe out;
  out.bytes = 2.0 * double(batch * context * row_width) * 2;  // K and V, 2 bytes each
  const int64_t copies = std::max<int64_t>(1, int64_t(double(stream_bytes) / out.bytes + 0.999));
  std::mt19937 rng(1);
  std::vector<PagedCache> caches;
  for (int64_t c = 0; c < copies; ++c) caches.push_back(make_cache(batch, context, row_width, rng));
  std::vector<std::vector<KvView>> views(caches.size());
  for (size_t c = 0; c < caches.size(); ++c)
    for (const auto& table : caches[c].tables) views[c].push_back(caches[c].pool->view(0, table));
  std::vector<float> q(size_t(batch * q_width), 0.01f), att(q.size());
  const std::vector<int64_t> positions(size_t(batch), context - 1);
  const AttentionMask mask;
  for (int32_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& v : views) attention_rows(att.data(), q.data(), batch, positions.data(), v.data(), shape, mask, pool);
    out.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(copies));
  }
  return out;
}

}  // namespace lckv
