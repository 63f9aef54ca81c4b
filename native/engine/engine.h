// The forward pass over the layer plan: embedding, the Llama blocks in the order the
// plan gives (ordinary segments once, cyclic groups iteratively or token by token),
// final norm and lm_head. One Engine per loaded model; calls are serialized.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/sequence_kv.h"
#include "kernels/cpu/thread_pool.h"
#include "model/config.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace lckv {

struct EngineOptions {
  int32_t threads = 1;
  DType kv_dtype = DType::F16;
};

struct RunRequest {
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  PrefillMode mode = PrefillMode::Auto;
  int32_t passes = 0;       // iterative passes; 0 = forward_passes + backward_passes
  bool all_logits = false;  // logits of every position, else of the last only
  const std::atomic<bool>* cancel = nullptr;  // set from another thread to stop at the next layer
};

class Engine {
 public:
  Engine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts);

  const ModelConfig& config() const { return cfg_; }
  const LayerPlan& plan() const { return plan_; }
  uint64_t parameter_count() const { return store_->parameter_count(); }
  DType kv_dtype() const { return opts_.kv_dtype; }
  int32_t threads() const { return pool_.size(); }

  std::unique_ptr<SequenceKv> new_sequence() const;

  // Appends req.tokens to the sequence and returns their logits ([rows, vocab]).
  std::vector<float> run(SequenceKv& seq, const RunRequest& req);

 private:
  struct Activations {
    std::vector<float> x, xb, q, k, v, att, proj, gate, up, x_in;  // [rows, width of each]
    int64_t rows = 0;
    void ensure(const ModelConfig& cfg, int64_t n);
  };

  void embed(const int32_t* tokens, int64_t n);
  void run_layers(SequenceKv& seq, int32_t begin, int32_t end, int64_t pos0, int64_t n);
  void check_cancel() const;
  void run_layer(SequenceKv& seq, int32_t layer, int64_t pos0, int64_t n);
  void prefill_iterative(SequenceKv& seq, int64_t pos0, int64_t n, int32_t passes);
  std::vector<float> logits(const float* hidden, int64_t rows);

  ModelConfig cfg_;
  LayerPlan plan_;
  std::unique_ptr<WeightStore> store_;
  ModelWeights w_;
  EngineOptions opts_;
  std::vector<double> inv_freq_;  // [head_dim / 2]
  ThreadPool pool_;
  Activations act_;
  const std::atomic<bool>* cancel_ = nullptr;  // of the running request
  std::mutex mutex_;
};

}  // namespace lckv
