// The CUDA attention kernels against the CPU kernels: paged decode for many sequences at
// once (split-K over long contexts) and tiled prefill, with GQA, the diagonal mask of
// upward-attending layers, sliding windows and every KV dtype, on odd shapes.
#include <algorithm>
#include <numeric>
#include <string>
#include <tuple>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "test/check.h"
#include "test/test_cuda_util.h"

using namespace lckv;
using namespace lckv::test;

namespace {

constexpr int32_t kBlock = 16;

// A pool of K/V rows in `dtype` and one block table per sequence (shuffled, so a sequence's
// blocks are not contiguous), on the host and on the device.
struct PagedFixture {
  int64_t width = 0;
  DType dtype = DType::F16;
  int32_t table_stride = 0;
  std::vector<uint8_t> k, v;     // [pool rows, width]
  std::vector<int32_t> tables;   // [sequences, table_stride]
  cuda::DeviceBuffer dk, dv, dtables;

  PagedFixture(const std::vector<int64_t>& lengths, int64_t width_, DType dtype_, uint32_t seed)
      : width(width_), dtype(dtype_) {
    int64_t blocks = 0;
    for (int64_t len : lengths) {
      table_stride = std::max<int32_t>(table_stride, int32_t((len + kBlock - 1) / kBlock));
      blocks += (len + kBlock - 1) / kBlock;
    }
    std::vector<int32_t> ids(size_t(blocks + 1));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
    tables.assign(lengths.size() * size_t(table_stride), -1);
    size_t next = 0;
    for (size_t s = 0; s < lengths.size(); ++s)
      for (int64_t b = 0; b < (lengths[s] + kBlock - 1) / kBlock; ++b) tables[s * size_t(table_stride) + size_t(b)] = ids[next++];
    const size_t rows = ids.size() * kBlock;
    k = encode(random_floats(rows * size_t(width), seed + 1), dtype);
    v = encode(random_floats(rows * size_t(width), seed + 2), dtype);
    dk = to_device(k), dv = to_device(v), dtables = to_device(tables);
  }

  KvView host_view(size_t seq) const {
    return KvView{k.data(), v.data(), dtype, width, tables.data() + seq * size_t(table_stride), kBlock};
  }
  cuda::PagedKv device_view() const {
    return cuda::PagedKv{dk.data(), dv.data(), dtype, width, dtables.as<int32_t>(), table_stride, kBlock};
  }
};

using Shape = std::tuple<int32_t, int32_t, int32_t>;  // heads, kv heads, head dim
const Shape kShapes[] = {{1, 1, 8}, {4, 2, 12}, {8, 2, 64}, {12, 4, 40}, {32, 4, 64},
                         {16, 16, 128}, {8, 1, 256}, {32, 1, 128}, {6, 3, 7}};

std::string describe(DType dt, const Shape& s, const AttentionMask& mask) {
  return std::string(dtype_name(dt)) + " heads=" + std::to_string(std::get<0>(s)) + "/" +
         std::to_string(std::get<1>(s)) + " hd=" + std::to_string(std::get<2>(s)) +
         " nodiag=" + std::to_string(mask.no_diag) + " window=" + std::to_string(mask.window);
}

}  // namespace

TEST_CASE("cuda paged decode attention: many sequences, GQA, masks and windows match the CPU") {
  if (!cuda_ready()) return;
  ThreadPool pool(2);
  // Row i is the newest token of sequence i: position = length - 1. Short, block-edge and
  // long (several splits) contexts in one batch.
  const std::vector<int64_t> lengths = {1, 2, 16, 17, 300, 3001};
  std::vector<int64_t> positions;
  for (int64_t len : lengths) positions.push_back(len - 1);
  const int64_t n = int64_t(lengths.size()), max_position = *std::max_element(positions.begin(), positions.end());
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const Shape& s : kShapes) {
      const auto [heads, kv_heads, hd] = s;
      const AttentionShape shape{heads, kv_heads, hd};
      const PagedFixture fx(lengths, int64_t(kv_heads) * hd, dt, uint32_t(heads * 31 + hd));
      const auto q = random_floats(size_t(n * heads * hd), uint32_t(hd));
      auto dq = to_device(q), dpos = to_device(positions);
      std::vector<KvView> views;
      for (size_t i = 0; i < lengths.size(); ++i) views.push_back(fx.host_view(i));
      for (bool no_diag : {false, true})
        for (int32_t window : {0, 1, 5, 37, 1000}) {
          const AttentionMask mask{no_diag, window};
          std::vector<float> want(q.size());
          attention_rows(want.data(), q.data(), n, positions.data(), views.data(), shape, mask, pool);
          const size_t ws = cuda::paged_decode_attention_workspace(n, shape, mask, max_position);
          cuda::DeviceBuffer dws(ws), dout(q.size() * sizeof(float));
          cuda::paged_decode_attention(dout.as<float>(), dq.as<float>(), n, dpos.as<int64_t>(), max_position,
                                       fx.device_view(), shape, mask, dws.data(), ws, nullptr);
          CHECK_MSG(cuda_max_rel_diff(from_device<float>(dout, q.size()), want) < 2e-5f, describe(dt, s, mask));
        }
    }
}

TEST_CASE("cuda paged decode attention: one long sequence split over many blocks equals one block's answer") {
  if (!cuda_ready()) return;
  ThreadPool pool(1);
  for (int64_t len : {129, 1000, 20000}) {
    const AttentionShape shape{32, 4, 64};
    const PagedFixture fx({len}, 4 * 64, DType::F16, 77);
    const std::vector<int64_t> positions = {len - 1};
    const auto q = random_floats(32 * 64, 5);
    const AttentionMask mask{true, 0};
    std::vector<float> want(q.size());
    const KvView view = fx.host_view(0);
    attention_rows(want.data(), q.data(), 1, positions.data(), &view, shape, mask, pool);
    auto dq = to_device(q), dpos = to_device(positions);
    const size_t ws = cuda::paged_decode_attention_workspace(1, shape, mask, len - 1);
    CHECK_MSG(ws > 0, "a single long row must be split (len " + std::to_string(len) + ")");
    cuda::DeviceBuffer dws(ws), dout(q.size() * sizeof(float));
    cuda::paged_decode_attention(dout.as<float>(), dq.as<float>(), 1, dpos.as<int64_t>(), len - 1, fx.device_view(),
                                 shape, mask, dws.data(), ws, nullptr);
    CHECK_MSG(cuda_max_rel_diff(from_device<float>(dout, q.size()), want) < 2e-5f, "len " + std::to_string(len));
  }
}

TEST_CASE("cuda prefill attention: tiles, prefixes, GQA, masks and windows match the CPU") {
  if (!cuda_ready()) return;
  ThreadPool pool(2);
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const Shape& s : kShapes) {
      const auto [heads, kv_heads, hd] = s;
      const AttentionShape shape{heads, kv_heads, hd};
      for (auto [n, pos0] : {std::pair{1, 0}, std::pair{1, 9}, std::pair{7, 0}, std::pair{40, 3}, std::pair{100, 33}}) {
        const PagedFixture fx({pos0 + n}, int64_t(kv_heads) * hd, dt, uint32_t(n * 13 + hd));
        const auto q = random_floats(size_t(n * heads * hd), uint32_t(pos0 + 3));
        auto dq = to_device(q);
        for (bool no_diag : {false, true})
          for (int32_t window : {0, 1, 5, 37}) {
            const AttentionMask mask{no_diag, window};
            std::vector<float> want(q.size());
            attention(want.data(), q.data(), n, pos0, fx.host_view(0), shape, mask, pool);
            cuda::DeviceBuffer dout(q.size() * sizeof(float));
            cuda::prefill_attention(dout.as<float>(), dq.as<float>(), n, pos0, fx.device_view(), shape, mask, nullptr);
            CHECK_MSG(cuda_max_rel_diff(from_device<float>(dout, q.size()), want) < 2e-5f,
                      describe(dt, s, mask) + " n=" + std::to_string(n) + " pos0=" + std::to_string(pos0));
          }
      }
    }
}
