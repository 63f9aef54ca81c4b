// Drawing the next token from one row of logits: repetition penalty, then greedy when the
// temperature is 0, else temperature -> top-k -> top-p -> min-p -> one draw from the
// renormalized weights with the request's seeded PRNG. The rule is lib/sampling.ts's
// documented one (tested against its plain restatement in test/sampling.test.ts); it runs
// here because per row per step on the JavaScript thread it cost a batch of 32 ~9 ms.
#pragma once
#include <cstdint>
#include <vector>

namespace lckv {

struct SamplingParams {
  double temperature = 1;
  int64_t top_k = 0;  // 0 or >= vocab: off
  double top_p = 1;   // 1: off
  double min_p = 0;   // 0: off
  double repetition_penalty = 1;
};

// The request's PRNG (SplitMix32 state, Mulberry-style output): uniform in [0, 1).
double next_uniform(uint32_t* state);

class Sampler {
 public:
  // A token id in [0, vocab). `seen` lists distinct ids (prompt and output) the penalty
  // applies to; *rng advances once per draw (not at temperature 0).
  int32_t sample(const float* logits, int64_t vocab, const SamplingParams& p, const int32_t* seen, int64_t n_seen,
                 uint32_t* rng);

 private:
  void rank(std::vector<int32_t>& ids) const;
  void top_k(int64_t vocab, int64_t k);
  double nucleus(int64_t vocab, float top, const SamplingParams& p);

  const float* scores_ = nullptr;  // [vocab] the row's logits, or penalized_
  std::vector<float> penalized_;   // [vocab] the logits after the repetition penalty
  std::vector<int32_t> order_;   // candidate ids, best first
  std::vector<int32_t> by_id_;   // top-k's ids in id order
  std::vector<double> weights_;  // [vocab] (nucleus) or [order] weights
};

}  // namespace lckv
