#include "engine/pass_bounds.h"

#include <string>

#include "common/error.h"

namespace lckv {

namespace {

void check_tokens(const ModelConfig& cfg, const int32_t* tokens, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size)
      throw Error("TOKEN_OUT_OF_RANGE", "token id " + std::to_string(tokens[i]) + " is outside [0, " +
                                            std::to_string(cfg.vocab_size) + ")");
}

void check_context(const ModelConfig& cfg, int64_t positions) {
  if (positions > cfg.max_positions)
    throw Error("CONTEXT_OVERFLOW", std::to_string(positions) + " tokens exceed the context of " +
                                        std::to_string(cfg.max_positions));
}

}  // namespace

int64_t begin_run(const ModelConfig& cfg, Sequence& seq, const int32_t* tokens, int64_t n) {
  if (n <= 0) throw Error("INVALID_ARGUMENT", "at least one token is required");
  check_tokens(cfg, tokens, n);
  const int64_t pos0 = seq.length();
  check_context(cfg, pos0 + n);
  seq.reserve(pos0 + n);
  return pos0;
}

void begin_decode(const ModelConfig& cfg, Sequence* const* seqs, const int32_t* tokens, int64_t n, int64_t* positions) {
  if (n <= 0) throw Error("INVALID_ARGUMENT", "at least one sequence is required");
  check_tokens(cfg, tokens, n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j)
      if (seqs[j] == seqs[i]) throw Error("INVALID_ARGUMENT", "a sequence appears twice in one batch");
    positions[i] = seqs[i]->length();
    check_context(cfg, positions[i] + 1);
  }
  for (int64_t i = 0; i < n; ++i) seqs[i]->reserve(positions[i] + 1);
}

void end_pass(const ModelConfig& cfg, const LayerPlan& plan, Sequence& seq, int64_t length) {
  seq.set_length(length);
  if (plan.windowed_cache() && cfg.sliding_window > 0) seq.drop_before(length - cfg.sliding_window + 1);
}

}  // namespace lckv
