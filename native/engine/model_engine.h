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

  // Appends req.tokens to the sequence and returns their logits ([rows, vocab]).
  virtual std::vector<float> run(Sequence& seq, const RunRequest& req) = 0;

  // Batched decode: appends tokens[i] to seqs[i] for every i < n as ONE forward pass of n
  // rows (each row its own sequence, position and block table), so every weight matrix is
  // read once for the whole batch. Returns logits [rows wanted, vocab]: of the rows whose
  // want_logits flag is set (every row when null), so rows fed only to rebuild a sequence's
  // cache skip the lm_head.
  virtual std::vector<float> decode(Sequence* const* seqs, const int32_t* tokens, int64_t n,
                                    const uint8_t* want_logits = nullptr) = 0;
};

}  // namespace lckv
