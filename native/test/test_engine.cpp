// The CPU engine's hot path: once warm, a batched decode step allocates no heap memory on
// any thread. Every operator new of the test binary (so every container's growth) is
// counted while the steps run; standard, LCKV and sliding-window plans.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "test/check.h"
#include "test/random_data.h"

using namespace lckv;
using namespace lckv::test;

namespace {
std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// Four sequences with short prompts decode together, so the steps (not the prefill) grow
// every attention span; the steps after a short warm-up are counted. They cross KV block
// boundaries (16 positions), a sliding window's edge, and mix windowed and full layers,
// whose spans differ within one step.
void check_decode_allocates_nothing(const std::string& layer_types, int32_t sliding_window) {
  ModelConfig cfg = small_config(layer_types, 4, 2, sliding_window);
  cfg.max_positions = 256, cfg.forward_passes = 2, cfg.backward_passes = 1;
  const RandomCheckpoint ckpt(cfg, DType::F16, 3);
  EngineOptions opts;
  opts.threads = 2, opts.kv_dtype = DType::F16, opts.kv_tokens = 1024;
  Engine engine(cfg, ckpt.store(), opts);
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<Sequence*> rows;
  for (int32_t len : {5, 2, 4, 3}) {
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < len; ++i) prompt.push_back((i * 37 + len) % cfg.vocab_size);
    seqs.push_back(engine.new_sequence());
    RunRequest req;
    req.tokens = prompt.data(), req.n = len;
    engine.run(*seqs.back(), req);
    rows.push_back(seqs.back().get());
  }
  const int64_t n = int64_t(rows.size());
  std::vector<float> logits(size_t(n * cfg.vocab_size));
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  const uint8_t want[] = {1, 0, 1, 1};
  auto step = [&](int32_t s) {
    for (int64_t i = 0; i < n; ++i) tokens[size_t(i)] = int32_t((s * 13 + i * 7) % cfg.vocab_size);
    engine.decode_into(rows.data(), tokens.data(), n, s % 2 ? want : nullptr, logits.data());
  };
  for (int32_t s = 0; s < 4; ++s) step(s);
  allocations = 0;
  counting = true;
  for (int32_t s = 4; s < 124; ++s) step(s);
  counting = false;
  CHECK_MSG(allocations == 0, layer_types + ": " + std::to_string(allocations.load()) + " allocations in 120 decode steps");
}

}  // namespace

TEST_CASE("cpu engine: a warm batched decode step allocates no heap memory") {
  check_decode_allocates_nothing("0_1_2_3", 4096);
  check_decode_allocates_nothing("0_3_3_3", 4096);
  check_decode_allocates_nothing("0s_1_2s_3s", 24);
}
