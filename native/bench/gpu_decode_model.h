// A decode step of a Llama/LCKV model with random weights, built from the CUDA kernels in
// the engine's order (embedding, per layer: norm, q/k/v, RoPE, KV append, paged decode
// attention over the target layer's cache, o-proj, norm, SwiGLU MLP; final norm, lm_head,
// argmax). It measures what the GPU kernels give a batched decode; it is not the engine
// (no scheduler, no sampling, no host round trip per token beyond the step's).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/device.h"
#include "model/config.h"
#include "model/layer_plan.h"

namespace lckv::bench {

class DecodeModel {
 public:
  // Allocates random bf16 weights for cfg and a paged f16 KV pool of kv_bytes for the
  // plan's cached layers; sequences of `context` positions each.
  DecodeModel(const ModelConfig& cfg, int64_t kv_bytes, int64_t context);

  // Sequences whose whole context fits in the KV budget.
  int64_t max_batch() const { return max_batch_; }
  int64_t kv_bytes_per_token() const;

  // One decode step for `batch` sequences, every one at `position` (its cache already holds
  // positions < position); returns seconds per step averaged over `reps`.
  double time_step(int64_t batch, int64_t position, int reps);

 private:
  struct Layer {
    cuda::DeviceBuffer wq, wk, wv, wo, gate, up, down, attn_norm, ffn_norm;  // bf16, [out, in] / [d]
  };
  void step(int64_t batch, int64_t position);

  ModelConfig cfg_;
  LayerPlan plan_;
  int64_t context_ = 0, max_batch_ = 0, table_stride_ = 0;
  std::vector<Layer> layers_;
  cuda::DeviceBuffer embed_, final_norm_, lm_head_;      // bf16
  cuda::DeviceBuffer kv_k_, kv_v_;                       // f16, [slot, pool rows, kv width]
  cuda::DeviceBuffer tables_;                            // int32, [max_batch, table_stride]
  cuda::DeviceBuffer inv_freq_;                          // double, [head_dim / 2]
  cuda::DeviceBuffer positions_, tokens_, next_;         // [max_batch] int64 / int32 / int32
  cuda::DeviceBuffer x_, xb_, q_, k_, v_, att_, proj_, gate_, up_, logits_;  // f32 activations
  cuda::DeviceBuffer attn_ws_, mm_ws_;                   // kernel workspaces
  int64_t rows_alloc_ = 0;
};

}  // namespace lckv::bench
