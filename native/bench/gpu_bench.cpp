// The GPU benchmark (bench/gpu.sh runs it): prints one table of
//  - paged decode attention bandwidth (K/V bytes read per second) against the device's
//    peak, at long contexts, for a TinyLlama-1.1B attention shape;
//  - matrix products (decode-sized and prefill-sized) through the dispatched path;
//  - decode steps of a TinyLlama-1.1B-shaped random model, standard (every layer cached)
//    vs LCKV (0_20_20_..._20_21: three cached layers) under one KV budget: the largest
//    batch each fits and its decode tokens/s.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/gpu_bench_util.h"
#include "bench/gpu_decode_model.h"
#include "common/error.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/matmul.h"

using namespace lckv;

namespace {

void row(const std::string& what, const std::string& shape, const std::string& result, const std::string& note) {
  std::printf("| %-28s | %-38s | %-22s | %-24s |\n", what.c_str(), shape.c_str(), result.c_str(), note.c_str());
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

ModelConfig tinyllama(const std::string& layer_types) {
  ModelConfig c;
  c.vocab_size = 32000, c.hidden_size = 2048, c.intermediate_size = 5632, c.n_layers = 22;
  c.n_heads = 32, c.n_kv_heads = 4, c.head_dim = 64, c.max_positions = 2048, c.rms_norm_eps = 1e-5f;
  c.layer_types = layer_types;
  return c;
}

void bench_decode_attention(const cuda::DeviceInfo& info) {
  const AttentionShape shape{32, 4, 64};
  const int64_t width = 4 * 64, block = 16;
  for (auto [batch, context] : {std::pair<int64_t, int64_t>{1, 131072}, {16, 32768}, {64, 16384}, {256, 4096}}) {
    const int64_t blocks_per_seq = context / block, rows = batch * context;
    cuda::DeviceBuffer k(size_t(rows * width) * 2), v(size_t(rows * width) * 2);
    bench::fill_random(k.data(), k.bytes(), DType::F16);
    bench::fill_random(v.data(), v.bytes(), DType::F16);
    std::vector<int32_t> tables(size_t(batch * blocks_per_seq));
    for (size_t i = 0; i < tables.size(); ++i) tables[i] = int32_t(i);
    std::vector<int64_t> positions(size_t(batch), context - 1);
    cuda::DeviceBuffer dt(tables.size() * 4), dp(positions.size() * 8), q(size_t(batch * 32 * 64) * 4),
        out(size_t(batch * 32 * 64) * 4);
    dt.upload(tables.data(), dt.bytes());
    dp.upload(positions.data(), dp.bytes());
    q.fill_zero();
    const cuda::PagedKv kv{k.data(), v.data(), DType::F16, width, dt.as<int32_t>(), int32_t(blocks_per_seq),
                           int32_t(block)};
    const AttentionMask mask{true, 0};
    cuda::DeviceBuffer ws(cuda::paged_decode_attention_workspace(batch, shape, mask, context - 1));
    const double s = bench::time_per_call(
        [&] {
          cuda::paged_decode_attention(out.as<float>(), q.as<float>(), batch, dp.as<int64_t>(), context - 1, kv,
                                       shape, mask, ws.data(), ws.bytes(), nullptr);
        },
        3, 20);
    const double bytes = double(batch) * double(context - 1) * double(width) * 2 * 2;  // K and V, f16
    const double gbs = bytes / s / 1e9;
    row("decode attention (f16 KV)", "batch " + std::to_string(batch) + ", context " + std::to_string(context) +
                                         ", 32/4 heads x 64",
        fmt("%.0f GB/s", gbs), fmt("%.0f%% of peak", 100.0 * gbs / info.peak_bandwidth_gbs));
  }
}

void bench_matmul() {
  const int64_t rows = 5632, cols = 2048;
  cuda::DeviceBuffer w(size_t(rows * cols) * 2);
  bench::fill_random(w.data(), w.bytes(), DType::BF16);
  const WeightView wv{w.data(), DType::BF16, rows, cols};
  for (int64_t n : {1, 8, 64, 512}) {
    cuda::DeviceBuffer x(size_t(n * cols) * 4), y(size_t(n * rows) * 4), ws(cuda::matmul_workspace(n, wv));
    x.fill_zero();
    const double s = bench::time_per_call(
        [&] { cuda::matmul(y.as<float>(), x.as<float>(), n, wv, ws.data(), ws.bytes(), nullptr); }, 3, 20);
    const char* path = cuda::matmul_path(n) == cuda::MatmulPath::Cublas ? "cuBLAS"
                       : cuda::matmul_path(n) == cuda::MatmulPath::Rows ? "built-in, warp per row"
                                                                        : "built-in, tiled";
    const double tflops = 2.0 * double(n) * rows * cols / s / 1e12;
    const double gbs = double(rows * cols * 2) / s / 1e9;
    row("matmul (bf16 weights)", "n " + std::to_string(n) + ", 5632 x 2048", fmt("%.1f TFLOP/s", tflops),
        fmt("%.0f GB/s weights, ", gbs) + path);
  }
}

void bench_models(const cuda::DeviceInfo& info) {
  // 512-token prompts and 1024 generated tokens: every sequence holds 1536 positions; the
  // step is timed at position 1024 (the middle of generation).
  const int64_t context = 512 + 1024, position = 1024;
  const int64_t kv_budget = std::min<int64_t>(int64_t(16) << 30, int64_t(info.total_bytes / 4));
  std::string lckv_types = "0";
  for (int i = 1; i <= 20; ++i) lckv_types += "_20";
  lckv_types += "_21";
  double standard_tps = 0;
  int64_t standard_batch = 0;
  for (const std::string& types : {std::string(), lckv_types}) {
    const bool lckv = !types.empty();
    bench::DecodeModel model(tinyllama(types), kv_budget, context);
    const int64_t batch = std::min<int64_t>(model.max_batch(), 4096);
    const double s = model.time_step(batch, position, 3);
    const double tps = double(batch) / s;
    const std::string name = lckv ? "LCKV 0_20_..._20_21" : "standard (22 cached)";
    std::string note = fmt("step %.1f ms", s * 1e3);
    if (lckv && standard_batch > 0)
      note += fmt(", %.1fx batch", double(batch) / double(standard_batch)) + fmt(", %.1fx tok/s", tps / standard_tps);
    row("decode, TinyLlama-1.1B shape", name + ", KV " + fmt("%.0f GiB", double(kv_budget) / (1 << 30)) +
                                            ", batch " + std::to_string(batch),
        fmt("%.0f tok/s", tps), note);
    if (!lckv) standard_tps = tps, standard_batch = batch;
  }
  // Latency of a single sequence, both plans (weights dominate).
  bench::DecodeModel single(tinyllama(lckv_types), int64_t(1) << 30, context);
  const double s1 = single.time_step(1, position, 5);
  row("decode, TinyLlama-1.1B shape", "LCKV, batch 1, position 1024", fmt("%.0f tok/s", 1.0 / s1),
      fmt("step %.2f ms", s1 * 1e3));
}

}  // namespace

int main() {
  try {
    if (!cuda::device_available()) {
      std::printf("no CUDA device: nothing to measure\n");
      return EXIT_FAILURE;
    }
    const cuda::DeviceInfo info = cuda::device_info();
    std::printf("device: %s, %d SMs, compute %d.%d, %.0f GiB, peak memory bandwidth %.0f GB/s, cuBLAS %s\n\n",
                info.name.c_str(), info.sm_count, info.major, info.minor, double(info.total_bytes) / (1 << 30),
                info.peak_bandwidth_gbs, cuda::matmul_has_cublas() ? "linked" : "not linked");
    row("what", "shape", "result", "note");
    std::printf("|%s|%s|%s|%s|\n", std::string(30, '-').c_str(), std::string(40, '-').c_str(),
                std::string(24, '-').c_str(), std::string(26, '-').c_str());
    bench_decode_attention(info);
    bench_matmul();
    bench_models(info);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu bench failed: %s\n", e.what());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
