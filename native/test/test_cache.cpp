// The paged KV pool: block accounting, and attention read through a block table equal to
// attention over the same K/V stored contiguously (bitwise), on odd shapes.
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "cache/kv_pool.h"
#include "cache/sequence.h"
#include "common/error.h"
#include "common/large_buffer.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"
#include "test/check.h"
#include "test/random_data.h"

using namespace lckv;
using namespace lckv::test;

TEST_CASE("large buffers: zero-filled, writable to the end, page-aligned (2 MiB-aligned from 2 MiB)") {
  for (size_t bytes : {size_t(1), size_t(100), size_t(4096), size_t(4097), size_t(2) << 20, (size_t(3) << 20) + 5}) {
    LargeBuffer buf = allocate_large(bytes);
    const auto at = reinterpret_cast<uintptr_t>(buf.get());
    CHECK(at % (bytes >= (size_t(2) << 20) ? (size_t(2) << 20) : 4096) == 0);
    CHECK(large_buffer_size(bytes) >= bytes && large_buffer_size(bytes) % 4096 == 0);
    CHECK(std::all_of(buf.get(), buf.get() + bytes, [](uint8_t b) { return b == 0; }));
    std::memset(buf.get(), 0xab, large_buffer_size(bytes));
  }
  LargeVector<float> grown(10);
  for (int i = 0; i < 20; ++i) grown.resize(grown.size() * 2 + 1, 1.5f);  // allocate, copy, unmap the old
  CHECK(grown.front() == 0.0f && grown.back() == 1.5f);
}

TEST_CASE("kv pool: drop_before returns only whole blocks before a position, once; the rest come back at the end") {
  auto pool = std::make_shared<KvPool>(1, 8, DType::F16, 6);
  {
    Sequence a(pool);
    a.reserve(5 * KvPool::kBlockTokens);
    CHECK(pool->blocks_used() == 5);
    a.drop_before(KvPool::kBlockTokens - 1);  // inside block 0: nothing whole before it
    CHECK(pool->blocks_used() == 5);
    a.drop_before(2 * KvPool::kBlockTokens + 3);  // blocks 0 and 1
    CHECK(pool->blocks_used() == 3 && a.blocks() == 5);
    a.drop_before(2 * KvPool::kBlockTokens + 3);  // again: no double free
    CHECK(pool->blocks_used() == 3);
    a.reserve(6 * KvPool::kBlockTokens);  // grows at the end, from the blocks dropped
    CHECK(pool->blocks_used() == 4 && a.blocks() == 6);
    a.drop_before(100 * KvPool::kBlockTokens);  // past the end: every block it spans
    CHECK(pool->blocks_used() == 0);
    a.clear();
    CHECK(pool->blocks_used() == 0 && a.blocks() == 0);
    a.reserve(KvPool::kBlockTokens);
    CHECK(pool->blocks_used() == 1);
  }
  CHECK(pool->blocks_used() == 0);
}

TEST_CASE("kv pool: blocks are taken all or nothing and come back when a sequence ends") {
  auto pool = std::make_shared<KvPool>(2, 8, DType::F16, 5);
  CHECK(pool->blocks_total() == 5 && pool->blocks_used() == 0);
  {
    Sequence a(pool), b(pool);
    a.reserve(17);  // 2 blocks
    CHECK(a.blocks() == 2 && pool->blocks_used() == 2);
    a.reserve(32);  // still 2
    CHECK(a.blocks() == 2);
    bool threw = false;
    try {
      b.reserve(4 * KvPool::kBlockTokens);  // 4 > 3 free
    } catch (const Error& e) {
      threw = e.code() == "KV_BUDGET_EXCEEDED";
    }
    CHECK(threw);
    CHECK(b.blocks() == 0 && pool->blocks_used() == 2);
    b.reserve(3 * KvPool::kBlockTokens);
    CHECK(pool->blocks_free() == 0);
    b.set_length(7);
    b.clear();
    CHECK(b.blocks() == 0 && b.length() == 0 && pool->blocks_used() == 2);
  }
  CHECK(pool->blocks_used() == 0);
  CHECK(pool->bytes_total() == 5ull * 2 * 2 * KvPool::kBlockTokens * 8 * 2);
}

TEST_CASE("kv pool: a sequence's table takes room for its context, at most the pool's blocks") {
  auto pool = std::make_shared<KvPool>(1, 8, DType::F16, 5);
  const Sequence small(pool, 40), huge(pool, int64_t(1) << 40);
  CHECK(small.table().capacity() >= 3);  // 40 positions: 3 blocks of 16
  CHECK(huge.table().capacity() <= 5);   // a claimed context of 2^40 positions
  // Taking every block of its context never moves the table.
  Sequence grown(pool, 5 * KvPool::kBlockTokens);
  const int32_t* before = grown.table().data();
  grown.reserve(5 * KvPool::kBlockTokens);
  CHECK(grown.blocks() == 5 && grown.table().data() == before);
}

TEST_CASE("kv pool: rows written through a block table read back in order") {
  auto pool = std::make_shared<KvPool>(3, 6, DType::F32, 8);
  Sequence filler(pool), seq(pool);
  filler.reserve(KvPool::kBlockTokens);  // so seq's blocks are not 0, 1, 2
  seq.reserve(40);
  const auto k = random_floats(40 * 6, 1), v = random_floats(40 * 6, 2);
  seq.write(1, 0, 25, k.data(), v.data());
  seq.write(1, 25, 15, k.data() + 25 * 6, v.data() + 25 * 6);
  seq.zero(1, 30, 3);
  const KvView kv = seq.view(1);
  for (int64_t p = 0; p < 40; ++p)
    for (int64_t d = 0; d < 6; ++d) {
      const size_t at = size_t(kv_row_index(kv, p) * kv.row_stride + d);
      const bool zeroed = p >= 30 && p < 33;
      CHECK(load_as_f32(kv.k, kv.dtype, at) == (zeroed ? 0.0f : k[size_t(p * 6 + d)]));
      CHECK(load_as_f32(kv.v, kv.dtype, at) == (zeroed ? 0.0f : v[size_t(p * 6 + d)]));
    }
}

TEST_CASE("attention: paged K/V equals contiguous K/V (bitwise) and the reference, odd shapes") {
  ThreadPool pool(2);
  const int32_t bs = 4;  // small blocks so every case spans several
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (auto [heads, kv_heads, hd] : {std::tuple{4, 4, 8}, std::tuple{6, 2, 5}, std::tuple{3, 1, 7}})
      for (bool no_diag : {false, true})
        for (int32_t window : {0, 1, 5})
          for (auto [n, pos0] : {std::pair{1, 0}, std::pair{1, 13}, std::pair{7, 0}, std::pair{5, 22}}) {
            const AttentionShape shape{heads, kv_heads, hd};
            const AttentionMask mask{no_diag, window};
            const int64_t width = int64_t(kv_heads) * hd, len = pos0 + n;
            const int64_t n_blocks = (len + bs - 1) / bs, rows = (n_blocks + 3) * bs;
            std::vector<uint8_t> kc(size_t(len * width) * dtype_size(dt)), vc(kc.size());
            convert_from_f32(kc.data(), dt, random_floats(size_t(len * width), 21).data(), len * width);
            convert_from_f32(vc.data(), dt, random_floats(size_t(len * width), 22).data(), len * width);
            // Scatter the positions into shuffled blocks of a larger buffer.
            std::vector<int32_t> table(size_t(n_blocks + 3));
            for (size_t b = 0; b < table.size(); ++b) table[b] = int32_t(b);
            std::shuffle(table.begin(), table.end(), std::mt19937(uint32_t(len)));
            std::vector<uint8_t> kp(size_t(rows * width) * dtype_size(dt), 0xff), vp(kp.size(), 0xff);
            const size_t row_bytes = size_t(width) * dtype_size(dt);
            const KvView contiguous{kc.data(), vc.data(), dt, width};
            const KvView paged{kp.data(), vp.data(), dt, width, table.data(), bs};
            for (int64_t p = 0; p < len; ++p) {
              std::memcpy(kp.data() + size_t(kv_row_index(paged, p)) * row_bytes, kc.data() + size_t(p) * row_bytes, row_bytes);
              std::memcpy(vp.data() + size_t(kv_row_index(paged, p)) * row_bytes, vc.data() + size_t(p) * row_bytes, row_bytes);
            }
            const auto q = random_floats(size_t(n * heads * hd), 23);
            std::vector<float> want(q.size()), got(q.size()), ref(q.size());
            attention(want.data(), q.data(), n, pos0, contiguous, shape, mask, pool);
            attention(got.data(), q.data(), n, pos0, paged, shape, mask, pool);
            attention_reference(ref.data(), q.data(), n, pos0, paged, shape, mask);
            const std::string what = std::string(dtype_name(dt)) + " heads=" + std::to_string(heads) + "/" +
                                     std::to_string(kv_heads) + " hd=" + std::to_string(hd) + " window=" +
                                     std::to_string(window) + " n=" + std::to_string(n) + " pos0=" + std::to_string(pos0);
            CHECK_MSG(got == want, what);
            float diff = 0, scale = 1e-6f;
            for (size_t i = 0; i < ref.size(); ++i) {
              diff = std::max(diff, std::abs(got[i] - ref[i]));
              scale = std::max(scale, std::abs(ref[i]));
            }
            CHECK_MSG(diff / scale < 1e-5f, what);
          }
}

TEST_CASE("attention_rows: each row equals that row alone against its own K/V (bitwise)") {
  ThreadPool pool(2);
  // 3 kv heads over 2 threads: each row's heads go in ranges [0, 1) and [1, 3).
  const AttentionShape shape{6, 3, 5};
  const int64_t width = 3 * 5;
  const std::vector<int64_t> positions{0, 9, 3, 20, 1};
  std::vector<std::vector<uint8_t>> ks, vs;
  std::vector<KvView> views;
  for (size_t i = 0; i < positions.size(); ++i) {
    const int64_t len = positions[i] + 1;
    ks.emplace_back(size_t(len * width) * 2);
    vs.emplace_back(size_t(len * width) * 2);
    convert_from_f32(ks.back().data(), DType::F16, random_floats(size_t(len * width), uint32_t(31 + i)).data(), len * width);
    convert_from_f32(vs.back().data(), DType::F16, random_floats(size_t(len * width), uint32_t(61 + i)).data(), len * width);
  }
  for (size_t i = 0; i < positions.size(); ++i) views.push_back(KvView{ks[i].data(), vs[i].data(), DType::F16, width});
  const int64_t n = int64_t(positions.size()), q_width = 6 * 5;
  const auto q = random_floats(size_t(n * q_width), 7);
  for (bool no_diag : {false, true}) {
    const AttentionMask mask{no_diag, 4};
    std::vector<float> batch(q.size()), alone(static_cast<size_t>(q_width));
    attention_rows(batch.data(), q.data(), n, positions.data(), views.data(), shape, mask, pool);
    for (int64_t i = 0; i < n; ++i) {
      attention(alone.data(), q.data() + i * q_width, 1, positions[size_t(i)], views[size_t(i)], shape, mask, pool);
      CHECK_MSG(std::equal(alone.begin(), alone.end(), batch.begin() + i * q_width), "row " + std::to_string(i));
    }
  }
}
