// What the addon needs from an engine, whichever device runs the forward pass: the CPU
// Engine (engine.h) and the CUDA engine (cuda_engine.h) implement the same contract, so
// the addon and the scheduler above it never ask which one they hold.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "cache/kv_pool.h"
#include "cache/sequence.h"
#include "model/config.h"
#include "model/layer_plan.h"

namespace lckv {

struct EngineOptions {
  int32_t threads = 1;
  DType kv_dtype = DType::F16;
  // KV budget: bytes, else tokens (rounded up to whole blocks); when both are 0, 4 x the
  // context length capped at 1 GiB (but never below one full context).
  int64_t kv_bytes = 0;
  int64_t kv_tokens = 0;
};

struct RunRequest {
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  PrefillMode mode = PrefillMode::Auto;
  int32_t passes = 0;       // iterative passes; 0 = forward_passes + backward_passes
  bool all_logits = false;  // logits of every position, else of the last only
  const std::atomic<bool>* cancel = nullptr;  // set from another thread to stop at the next layer
};

class ModelEngine {
 public:
  virtual ~ModelEngine() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const LayerPlan& plan() const = 0;
  virtual uint64_t parameter_count() const = 0;
  // Block accounting of every sequence (the storage may live on a device).
  virtual const std::shared_ptr<KvPool>& kv_pool() const = 0;
  virtual std::unique_ptr<Sequence> new_sequence() const = 0;

  // Appends req.tokens to the sequence and writes their logits to `logits`
  // ([run_logit_rows(req), vocab] floats, the caller's: the addon hands over the JavaScript
  // array the result lands in, so a step neither allocates nor copies its logits).
  virtual void run_into(Sequence& seq, const RunRequest& req, float* logits) = 0;

  // Batched decode: appends tokens[i] to seqs[i] for every i < n as ONE forward pass of n
  // rows (each row its own sequence, position and block table), so every weight matrix is
  // read once for the whole batch. Writes logits [decode_logit_rows(want_logits, n), vocab]:
  // of the rows whose want_logits flag is set (every row when null), in order, so rows fed
  // only to rebuild a sequence's cache skip the lm_head.
  virtual void decode_into(Sequence* const* seqs, const int32_t* tokens, int64_t n, const uint8_t* want_logits,
                           float* logits) = 0;

  static int64_t run_logit_rows(const RunRequest& req) { return req.all_logits ? req.n : 1; }
  static int64_t decode_logit_rows(const uint8_t* want_logits, int64_t n) {
    if (!want_logits) return n;
    int64_t rows = 0;
    for (int64_t i = 0; i < n; ++i) rows += want_logits[i] ? 1 : 0;
    return rows;
  }

  // The same, returning a new array (tests and tools).
  std::vector<float> run(Sequence& seq, const RunRequest& req) {
    std::vector<float> out(size_t(run_logit_rows(req) * config().vocab_size));
    run_into(seq, req, out.data());
    return out;
  }
  std::vector<float> decode(Sequence* const* seqs, const int32_t* tokens, int64_t n,
                            const uint8_t* want_logits = nullptr) {
    std::vector<float> out(size_t(decode_logit_rows(want_logits, n) * config().vocab_size));
    decode_into(seqs, tokens, n, want_logits, out.data());
    return out;
  }
};

}  // namespace lckv
