// The forward pass over the layer plan: embedding, the Llama blocks in the order the
// plan gives (ordinary segments once, cyclic groups iteratively or token by token),
// final norm and lm_head. One Engine per loaded model; calls are serialized.
#pragma once
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/kv_pool.h"
#include "cache/sequence.h"
#include "common/large_buffer.h"
#include "engine/model_engine.h"
#include "engine/packed_linears.h"
#include "kernels/cpu/thread_pool.h"
#include "model/config.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace lckv {

class Engine : public ModelEngine {
 public:
  Engine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts);

  const ModelConfig& config() const override { return cfg_; }
  const LayerPlan& plan() const override { return plan_; }
  uint64_t parameter_count() const override { return store_->parameter_count(); }
  DType kv_dtype() const { return opts_.kv_dtype; }
  int32_t threads() const { return threads_.size(); }

  const std::shared_ptr<KvPool>& kv_pool() const override { return pool_; }

  std::unique_ptr<Sequence> new_sequence() const override;

  void run_into(Sequence& seq, const RunRequest& req, float* logits) override;
  // Row i of the logits equals what run() gives for that token alone (batch invariance).
  void decode_into(Sequence* const* seqs, const int32_t* tokens, int64_t n, const uint8_t* want_logits,
                   float* logits) override;

  // Blocks of the KV pool for this budget (the rule in EngineOptions); every engine sizes
  // its pool with it. Throws INVALID_ARGUMENT when kv_bytes is below one block.
  static int64_t kv_pool_blocks(const ModelConfig& cfg, const LayerPlan& plan, const EngineOptions& opts);

 private:
  struct Activations {
    // Mapped from the OS (they reach megabytes in a long prefill): freed, they go back at once.
    LargeVector<float> x, xb, q, k, v, att, proj, gate, up, x_in;  // [rows, width of each]
    LargeVector<float> rope;    // [rows, head_dim]: each row's RoPE angles, set once per forward pass
    std::vector<int64_t> positions;  // [rows]: each row's position in a batched decode step
    LargeVector<float> normed;  // [logit rows, hidden]: sized by logits()
    LargeVector<float> kept;    // [logit rows, hidden]: a sequential prefill's final states that get logits
    std::vector<KvView> views;  // [rows] the K/V each row reads (batched decode)
    int64_t rows = 0;
    void ensure(const ModelConfig& cfg, int64_t n);
  };

  // Where the n rows of a forward pass sit: all in `seq` at positions pos0 .. pos0 + n - 1
  // (prefill), or row i in seqs[i] at positions[i] (batched decode; seq is null).
  struct Rows {
    int64_t n = 0;
    int64_t first = 0;  // where row 0 sits in the residual stream act_.x (the other activations start at 0)
    Sequence* seq = nullptr;
    int64_t pos0 = 0;
    Sequence* const* seqs = nullptr;  // [n]
    const int64_t* positions = nullptr;  // [n]
  };

  void ensure_packed();  // with mutex_ held
  void embed(const int32_t* tokens, int64_t n);
  // The RoPE angles of rows 0 .. n-1: at positions[i], or pos0 + i when positions is null.
  void set_rope_angles(int64_t n, int64_t pos0, const int64_t* positions);
  void run_layers(const Rows& rows, int32_t begin, int32_t end);
  void check_cancel() const;
  void run_layer(const Rows& rows, int32_t layer);
  void prefill_iterative(Sequence& seq, int64_t pos0, int64_t n, int32_t passes);
  void logits(const float* hidden, int64_t rows, float* out);

  ModelConfig cfg_;
  LayerPlan plan_;
  std::unique_ptr<WeightStore> store_;
  ModelWeights w_;
  // Every matmul reads packed_, not w_'s linear views. Packing a large model takes a while,
  // so it runs on its own thread from construction (the constructor runs on the JavaScript
  // thread and must not block it); the first forward pass waits for it. Declared after
  // store_ and w_: destruction waits for an unfinished packing before they go.
  std::future<PackedLinears> packing_;
  PackedLinears packed_;
  EngineOptions opts_;
  std::vector<double> inv_freq_;  // [head_dim / 2]
  std::shared_ptr<KvPool> pool_;  // K/V of every sequence, cached layers only
  ThreadPool threads_;
  Activations act_;
  const std::atomic<bool>* cancel_ = nullptr;  // of the running request
  std::mutex mutex_;
};

}  // namespace lckv
