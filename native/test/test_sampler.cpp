// The native sampler's invariants, here so that they also run under the sanitizers. Its
// draws are checked against a plain restatement of the rule in test/sampling.test.ts.
#include <cmath>
#include <random>
#include <vector>

#include "engine/sampler.h"
#include "test/check.h"

namespace lckv {
namespace {

std::vector<float> random_logits(std::mt19937& rng, int64_t vocab) {
  std::uniform_int_distribution<int> q(0, 40);  // quantized: many ties
  std::vector<float> v(size_t(vocab), 0.0f);
  for (auto& x : v) x = float(q(rng)) / 4.0f - 5.0f;
  return v;
}

TEST_CASE("sampler: ids in range, greedy is the first best id, same seed same draws, any vocabulary size") {
  std::mt19937 rng(11);
  Sampler a, b;
  for (int64_t vocab : {int64_t(1), int64_t(2), int64_t(7), int64_t(300), int64_t(5000)}) {
    const std::vector<float> logits = random_logits(rng, vocab);
    const std::vector<int32_t> seen{0, int32_t(vocab / 2), int32_t(vocab - 1)};
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i) best = logits[size_t(i)] > logits[size_t(best)] ? i : best;
    SamplingParams greedy;
    greedy.temperature = 0;
    uint32_t s0 = 5;
    CHECK(a.sample(logits.data(), vocab, greedy, seen.data(), 0, &s0) == best);
    CHECK(s0 == 5);  // greedy draws nothing
    for (int64_t top_k : {int64_t(0), int64_t(1), int64_t(40), int64_t(100)})
      for (double top_p : {1.0, 0.9, 1e-6})
        for (double penalty : {1.0, 1.3, 5e-324}) {
          SamplingParams p;
          p.temperature = 0.8, p.top_k = top_k, p.top_p = top_p, p.min_p = 0.05, p.repetition_penalty = penalty;
          uint32_t s1 = 9, s2 = 9;
          for (int draw = 0; draw < 4; ++draw) {
            const int32_t x = a.sample(logits.data(), vocab, p, seen.data(), int64_t(seen.size()), &s1);
            const int32_t y = b.sample(logits.data(), vocab, p, seen.data(), int64_t(seen.size()), &s2);
            CHECK(x == y && x >= 0 && x < vocab);
          }
          CHECK(s1 == s2 && s1 != 9);
        }
  }
}

TEST_CASE("sampler: NaN and infinite logits still give a token id") {
  Sampler s;
  SamplingParams p;
  p.top_p = 0.9, p.min_p = 0.1;
  for (const std::vector<float>& bad : {std::vector<float>{NAN, 1, 2}, std::vector<float>{1, INFINITY, 2},
                                         std::vector<float>{-INFINITY, -INFINITY, -INFINITY}, std::vector<float>{NAN, NAN, NAN}})
    for (int64_t top_k : {int64_t(0), int64_t(2)}) {
      p.top_k = top_k;
      uint32_t state = 1;
      const int32_t id = s.sample(bad.data(), 3, p, nullptr, 0, &state);
      CHECK(id >= 0 && id < 3);
    }
}

}  // namespace
}  // namespace lckv
