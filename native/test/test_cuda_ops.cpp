// The CUDA element-wise kernels, the embedding gather, argmax and the KV append against
// the CPU kernels (kernels/cpu, cache/) on odd shapes and every storage dtype.
#include <cstring>
#include <string>

#include "cache/kv_pool.h"
#include "cache/sequence.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/kv_append.h"
#include "kernels/cuda/ops.h"
#include "test/check.h"
#include "test/test_cuda_util.h"

using namespace lckv;
using namespace lckv::test;

TEST_CASE("cuda rmsnorm: every weight dtype and odd width matches the CPU") {
  if (!cuda_ready()) return;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int64_t n : {1, 3, 17})
      for (int64_t d : {1, 7, 64, 100, 2048}) {
        const auto x = random_floats(size_t(n * d), uint32_t(n * 7 + d), 3.0f);
        const auto wb = encode(random_floats(size_t(d), 5), dt);
        std::vector<float> want(x.size());
        rmsnorm(want.data(), x.data(), wb.data(), dt, n, d, 1e-5f);
        auto dx = to_device(x), dw = to_device(wb);
        cuda::DeviceBuffer dout(x.size() * sizeof(float));
        cuda::rmsnorm(dout.as<float>(), dx.as<float>(), dw.data(), dt, n, d, 1e-5f, nullptr);
        CHECK_MSG(cuda_max_rel_diff(from_device<float>(dout, x.size()), want) < 1e-5f,
                  std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " d=" + std::to_string(d));
      }
}

TEST_CASE("cuda rope: prefill positions and per-row decode positions match the CPU") {
  if (!cuda_ready()) return;
  for (auto [heads, hd] : {std::pair{1, 2}, std::pair{3, 8}, std::pair{4, 64}, std::pair{2, 128}, std::pair{5, 6}})
    for (int64_t n : {1, 5, 33}) {
      std::vector<double> inv_freq;
      for (int32_t i = 0; i < hd / 2; ++i) inv_freq.push_back(std::pow(10000.0, -2.0 * i / double(hd)));
      const auto x = random_floats(size_t(n * heads * hd), uint32_t(n + hd));
      std::vector<int64_t> positions;
      for (int64_t i = 0; i < n; ++i) positions.push_back((i * 977 + 13) % 5000);
      const int64_t pos0 = 4093;
      std::vector<float> want_prefill = x, want_rows = x;
      rope_apply(want_prefill.data(), n, heads, hd, pos0, inv_freq.data());
      for (int64_t i = 0; i < n; ++i)
        rope_apply(want_rows.data() + i * heads * hd, 1, heads, hd, positions[size_t(i)], inv_freq.data());
      auto dfreq = to_device(inv_freq), dpos = to_device(positions);
      auto dx = to_device(x);
      cuda::rope_apply(dx.as<float>(), n, heads, hd, cuda::RowPositions{pos0, nullptr}, dfreq.as<double>(), nullptr);
      const std::string where = "heads=" + std::to_string(heads) + " hd=" + std::to_string(hd) + " n=" + std::to_string(n);
      CHECK_MSG(cuda_max_rel_diff(from_device<float>(dx, x.size()), want_prefill) < 1e-6f, where + " prefill");
      dx.upload(x.data(), x.size() * sizeof(float));
      cuda::rope_apply(dx.as<float>(), n, heads, hd, cuda::RowPositions{0, dpos.as<int64_t>()}, dfreq.as<double>(),
                       nullptr);
      CHECK_MSG(cuda_max_rel_diff(from_device<float>(dx, x.size()), want_rows) < 1e-6f, where + " rows");
    }
}

TEST_CASE("cuda silu_mul and add_inplace match the CPU") {
  if (!cuda_ready()) return;
  for (int64_t count : {1, 255, 256, 1000, 70001}) {
    const auto gate = random_floats(size_t(count), 1, 4.0f), up = random_floats(size_t(count), 2);
    std::vector<float> want_silu = gate, want_add = gate;
    silu_mul(want_silu.data(), up.data(), count);
    add_inplace(want_add.data(), up.data(), count);
    auto dg = to_device(gate), du = to_device(up);
    cuda::silu_mul(dg.as<float>(), du.as<float>(), count, nullptr);
    CHECK_MSG(cuda_max_rel_diff(from_device<float>(dg, gate.size()), want_silu) < 1e-6f, std::to_string(count));
    dg.upload(gate.data(), gate.size() * sizeof(float));
    cuda::add_inplace(dg.as<float>(), du.as<float>(), count, nullptr);
    CHECK_MSG(from_device<float>(dg, gate.size()) == want_add, std::to_string(count) + " add");
  }
}

TEST_CASE("cuda embedding_gather: rows of every table dtype widened exactly") {
  if (!cuda_ready()) return;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int64_t d : {1, 9, 64, 300}) {
      const int64_t vocab = 50;
      const auto table = encode(random_floats(size_t(vocab * d), uint32_t(d)), dt);
      const std::vector<int32_t> tokens = {0, 49, 7, 7, 23};
      const int64_t n = int64_t(tokens.size());
      std::vector<float> want(size_t(n * d));
      const WeightView host_table{table.data(), dt, vocab, d};
      for (int64_t i = 0; i < n; ++i) embedding_row(want.data() + i * d, host_table, tokens[size_t(i)]);
      auto dtab = to_device(table), dtok = to_device(tokens);
      cuda::DeviceBuffer dout(want.size() * sizeof(float));
      cuda::embedding_gather(dout.as<float>(), dtok.as<int32_t>(), n, WeightView{dtab.data(), dt, vocab, d}, nullptr);
      CHECK_MSG(from_device<float>(dout, want.size()) == want, std::string(dtype_name(dt)) + " d=" + std::to_string(d));
    }
}

TEST_CASE("cuda argmax_rows: the largest logit, the lowest index on ties") {
  if (!cuda_ready()) return;
  for (int64_t vocab : {1, 31, 32000, 128257}) {
    const int64_t n = 4;
    auto logits = random_floats(size_t(n * vocab), uint32_t(vocab));
    // Row 1: a tie between two maxima; row 2: every value equal; row 3: the maximum last.
    if (vocab > 3) logits[size_t(vocab + 2)] = logits[size_t(vocab + vocab - 1)] = 100.0f;
    for (int64_t c = 0; c < vocab; ++c) logits[size_t(2 * vocab + c)] = -1.0f;
    logits[size_t(4 * vocab - 1)] = 1000.0f;
    std::vector<int32_t> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < vocab; ++c)
        if (logits[size_t(i * vocab + c)] > logits[size_t(i * vocab + best)]) best = c;
      want[size_t(i)] = int32_t(best);
    }
    auto dl = to_device(logits);
    cuda::DeviceBuffer dout(size_t(n) * sizeof(int32_t));
    cuda::argmax_rows(dout.as<int32_t>(), dl.as<float>(), n, vocab, nullptr);
    CHECK_MSG(from_device<int32_t>(dout, size_t(n)) == want, "vocab=" + std::to_string(vocab));
  }
}

TEST_CASE("cuda convert_from_f32: f16 and bf16 rounding equals the CPU's, bit for bit") {
  if (!cuda_ready()) return;
  auto src = random_floats(100000, 9, 100.0f);
  for (float special : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, -3e-5f, 1e30f, INFINITY, -INFINITY}) src.push_back(special);
  for (DType dt : {DType::F16, DType::BF16}) {
    const auto want = encode(src, dt);
    auto dsrc = to_device(src);
    cuda::DeviceBuffer dout(want.size());
    cuda::convert_from_f32(dout.data(), dt, dsrc.as<float>(), int64_t(src.size()), nullptr);
    CHECK_MSG(from_device<uint8_t>(dout, want.size()) == want, dtype_name(dt));
  }
}

TEST_CASE("cuda kv_append and kv_zero write the rows Sequence::write and zero write") {
  if (!cuda_ready()) return;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int64_t width : {8, 12, 256}) {
      const int64_t n_blocks = 9, bt = KvPool::kBlockTokens;
      auto pool = std::make_shared<KvPool>(1, width, dt, n_blocks);
      Sequence a(pool), b(pool);
      b.reserve(3 * bt);  // b takes blocks first, so a's table is not the identity
      a.reserve(5 * bt + 3);
      const int64_t pos0 = 4, n = 70;
      const auto k = random_floats(size_t(n * width), 1), v = random_floats(size_t(n * width), 2);
      const size_t row_bytes = size_t(width) * dtype_size(dt), pool_rows = size_t(n_blocks * bt);
      // The pool as the GPU sees it, starting from the CPU pool's current bytes.
      std::vector<uint8_t> k_host(pool_rows * row_bytes), v_host(pool_rows * row_bytes);
      for (size_t r = 0; r < pool_rows; ++r) {
        std::memcpy(k_host.data() + r * row_bytes, pool->k_row(0, int64_t(r)), row_bytes);
        std::memcpy(v_host.data() + r * row_bytes, pool->v_row(0, int64_t(r)), row_bytes);
      }
      a.write(0, pos0, n, k.data(), v.data());
      a.zero(0, pos0 + 10, 20);
      std::vector<int32_t> table(size_t(a.blocks()));
      const KvView view = a.view(0);
      std::memcpy(table.data(), view.blocks, table.size() * sizeof(int32_t));
      auto dk = to_device(k_host), dv = to_device(v_host), dkn = to_device(k), dvn = to_device(v), dtab = to_device(table);
      const cuda::PagedKv kv{dk.data(), dv.data(), dt, width, dtab.as<int32_t>(), int32_t(table.size()), int32_t(bt)};
      cuda::kv_append(kv, dkn.as<float>(), dvn.as<float>(), n, cuda::RowPositions{pos0, nullptr}, nullptr);
      cuda::kv_zero(kv, pos0 + 10, 20, nullptr);
      const auto k_got = from_device<uint8_t>(dk, k_host.size()), v_got = from_device<uint8_t>(dv, v_host.size());
      bool same = true;
      for (size_t r = 0; r < pool_rows; ++r)
        same = same && std::memcmp(k_got.data() + r * row_bytes, pool->k_row(0, int64_t(r)), row_bytes) == 0 &&
               std::memcmp(v_got.data() + r * row_bytes, pool->v_row(0, int64_t(r)), row_bytes) == 0;
      CHECK_MSG(same, std::string(dtype_name(dt)) + " width=" + std::to_string(width));
    }
}

TEST_CASE("cuda kv_append: batched decode rows land in their own sequence's blocks") {
  if (!cuda_ready()) return;
  const int64_t width = 16, bt = 16, n_blocks = 12, n = 3;
  const DType dt = DType::F16;
  // Three sequences with tables of stride 4; row i appends at positions[i] of sequence i.
  const std::vector<int32_t> tables = {5, 2, 0, 0, 11, 0, 0, 0, 1, 3, 7, 9};
  const std::vector<int64_t> positions = {17, 0, 63};
  const auto k = random_floats(size_t(n * width), 3), v = random_floats(size_t(n * width), 4);
  std::vector<uint8_t> zeros(size_t(n_blocks * bt * width) * 2, 0);
  auto dk = to_device(zeros), dv = to_device(zeros), dkn = to_device(k), dvn = to_device(v);
  auto dtab = to_device(tables), dpos = to_device(positions);
  const cuda::PagedKv kv{dk.data(), dv.data(), dt, width, dtab.as<int32_t>(), 4, int32_t(bt)};
  cuda::kv_append(kv, dkn.as<float>(), dvn.as<float>(), n, cuda::RowPositions{0, dpos.as<int64_t>()}, nullptr);
  const auto k_got = from_device<uint16_t>(dk, zeros.size() / 2);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = positions[size_t(i)];
    const int64_t row = tables[size_t(i * 4 + p / bt)] * bt + p % bt;
    for (int64_t c = 0; c < width; ++c)
      CHECK(k_got[size_t(row * width + c)] == f32_to_f16(k[size_t(i * width + c)]));
  }
}
