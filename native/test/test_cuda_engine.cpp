// The whole model on the CUDA engine against the CPU engine (the reference): random
// checkpoints of several layer plans (standard, LCKV with warmup layers, sliding windows,
// GQA with tied embeddings) are prefilled (iterative and sequential, with and without a
// cached prefix) and decoded greedily as one batch of two sequences on both engines. The
// logits must agree within the kernels' tolerances and the greedy tokens must be equal
// wherever the CPU's top two logits are not a near-tie.
//
// Prompts stay below 32 tokens so every product takes the built-in CUDA kernels (the cuBLAS
// path rounds inputs to 16 bits and is compared op by op in test_cuda_matmul.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "engine/cuda_engine.h"
#include "engine/engine.h"
#include "test/check.h"
#include "test/random_data.h"
#include "test/test_cuda_util.h"

using namespace lckv;
using namespace lckv::test;

namespace {

struct Layout {
  const char* name;
  std::string layer_types;
  int32_t n_heads, n_kv_heads, sliding_window;
  bool tie_word_embeddings;
  DType weights, kv;
};

ModelConfig config_of(const Layout& l) {
  ModelConfig c = small_config(l.layer_types, l.n_heads, l.n_kv_heads, l.sliding_window);
  c.max_positions = 64, c.forward_passes = 7, c.backward_passes = 2;
  c.tie_word_embeddings = l.tie_word_embeddings;
  return c;
}

// Compares one [rows, vocab] block of logits; returns the CPU's greedy token of each row
// and checks the device's greedy pick where the CPU's top two are clearly apart.
std::vector<int32_t> compare_logits(const std::vector<float>& cpu, const std::vector<float>& gpu, int64_t vocab,
                                    float tolerance, const std::string& what) {
  CHECK_MSG(cpu.size() == gpu.size(), what + ": " + std::to_string(gpu.size()) + " logits, expected " +
                                          std::to_string(cpu.size()));
  if (cpu.size() != gpu.size()) return {};
  const float diff = cuda_max_rel_diff(gpu, cpu);
  CHECK_MSG(diff <= tolerance, what + ": relative difference " + std::to_string(diff));
  std::vector<int32_t> tokens;
  for (size_t r = 0; r * size_t(vocab) < cpu.size(); ++r) {
    const float* c = cpu.data() + r * size_t(vocab);
    const float* g = gpu.data() + r * size_t(vocab);
    const int64_t best = std::max_element(c, c + vocab) - c;
    float second = -INFINITY, scale = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (i != best) second = std::max(second, c[i]);
      scale = std::max(scale, std::fabs(c[i]));
    }
    const bool clear = c[best] - second > 10.0f * tolerance * scale;
    if (clear) CHECK_MSG(std::max_element(g, g + vocab) - g == best, what + ": greedy token differs at row " + std::to_string(r));
    tokens.push_back(int32_t(best));
  }
  return tokens;
}

void check_layout(const Layout& layout) {
  const ModelConfig cfg = config_of(layout);
  const RandomCheckpoint ckpt(cfg, layout.weights, 7);
  EngineOptions opts;
  opts.threads = 2, opts.kv_dtype = layout.kv, opts.kv_tokens = 256;
  Engine cpu(cfg, ckpt.store(), opts);
  CudaEngine gpu(cfg, ckpt.store(), opts);
  CHECK(gpu.parameter_count() == cpu.parameter_count());
  CHECK(gpu.kv_pool()->blocks_total() == cpu.kv_pool()->blocks_total());
  // f16/bf16 K/V round the same values on both devices, but inputs that differ in the last
  // bits can round to neighbouring 16-bit values.
  const float tol = layout.kv == DType::F32 ? 1e-3f : 2e-2f;
  const int64_t vocab = cfg.vocab_size;
  const std::string name = layout.name;

  // Sequence a: 20 prompt tokens (iterative for LCKV plans, whose m+b = 9), then 3 more on
  // top of the cached prefix. Sequence b: 5 tokens (sequential under 'auto' for LCKV).
  std::vector<int32_t> prompt_a, prompt_b, more = {5, 77, 31};
  for (int32_t i = 0; i < 20; ++i) prompt_a.push_back((i * 37 + 11) % cfg.vocab_size);
  for (int32_t i = 0; i < 5; ++i) prompt_b.push_back((i * 53 + 3) % cfg.vocab_size);
  auto cpu_a = cpu.new_sequence(), cpu_b = cpu.new_sequence();
  auto gpu_a = gpu.new_sequence(), gpu_b = gpu.new_sequence();
  auto both = [&](Sequence& c, Sequence& g, const std::vector<int32_t>& tokens, PrefillMode mode, const std::string& what) {
    RunRequest req;
    req.tokens = tokens.data(), req.n = int64_t(tokens.size()), req.mode = mode, req.all_logits = true;
    compare_logits(cpu.run(c, req), gpu.run(g, req), vocab, tol, name + " " + what);
    CHECK(c.length() == g.length());
  };
  both(*cpu_a, *gpu_a, prompt_a, PrefillMode::Auto, "prefill a");
  both(*cpu_b, *gpu_b, prompt_b, PrefillMode::Auto, "prefill b");
  both(*cpu_a, *gpu_a, more, PrefillMode::Iterative, "prefix + 3");
  // A third sequence prefilled token by token on purpose.
  auto cpu_c = cpu.new_sequence(), gpu_c = gpu.new_sequence();
  both(*cpu_c, *gpu_c, prompt_b, PrefillMode::Sequential, "sequential prefill");

  // Greedy decode of a, b and c as one batch, teacher-forced with the CPU's tokens so one
  // near-tie cannot send the devices down different continuations.
  Sequence* cpu_rows[] = {cpu_a.get(), cpu_b.get(), cpu_c.get()};
  Sequence* gpu_rows[] = {gpu_a.get(), gpu_b.get(), gpu_c.get()};
  std::vector<int32_t> next = {1, 2, 3};
  for (int step = 0; step < 12; ++step) {
    const std::string what = name + " decode step " + std::to_string(step);
    const std::vector<float> c = cpu.decode(cpu_rows, next.data(), 3);
    const std::vector<float> g = gpu.decode(gpu_rows, next.data(), 3);
    const std::vector<int32_t> picked = compare_logits(c, g, vocab, tol, what);
    if (picked.size() == 3) next = picked;
  }
  // Only some rows want logits (the lm_head runs on the gathered rows).
  const uint8_t want[] = {0, 1, 1};
  compare_logits(cpu.decode(cpu_rows, next.data(), 3, want), gpu.decode(gpu_rows, next.data(), 3, want), vocab, tol,
                 name + " decode, rows 1 and 2 wanted");
  for (int i = 0; i < 3; ++i) {
    CHECK(cpu_rows[i]->length() == gpu_rows[i]->length());
    CHECK(cpu_rows[i]->table() == gpu_rows[i]->table());  // same block accounting
  }
}

}  // namespace

TEST_CASE("cuda engine: whole-model prefill and batched greedy decode match the CPU engine") {
  if (!cuda_ready()) return;
  const Layout layouts[] = {
      {"standard", "0_1_2_3", 4, 4, 4096, false, DType::F32, DType::F32},
      {"lckv warmup", "0_6_6_6_6_6_6_7", 4, 4, 4096, false, DType::BF16, DType::F16},
      {"sliding", "0s_1_2s_3s", 4, 4, 6, false, DType::F16, DType::F32},
      {"all sliding (blocks dropped)", "0s_1s_2s", 4, 4, 6, false, DType::F32, DType::F32},
      {"gqa lckv tied", "0_2_2_3", 8, 2, 4096, true, DType::F16, DType::BF16},
  };
  for (const Layout& layout : layouts) check_layout(layout);
}

TEST_CASE("cuda engine: without a device, construction fails with DEVICE_UNAVAILABLE") {
  if (cuda::device_available()) return;
  const Layout layout{"standard", "0_1", 4, 4, 4096, false, DType::F32, DType::F32};
  const RandomCheckpoint ckpt(config_of(layout), layout.weights, 1);
  std::string code;
  try {
    CudaEngine engine(config_of(layout), ckpt.store(), EngineOptions{});
  } catch (const Error& e) {
    code = e.code();
  }
  CHECK_MSG(code == "DEVICE_UNAVAILABLE", "got '" + code + "'");
}
