// The forward pass on a CUDA device, behind the same contract as the CPU Engine
// (model_engine.h): embedding, the Llama blocks in the order the layer plan gives
// (ordinary segments once, cyclic groups iteratively or token by token), final norm and
// lm_head, with the kernels of native/kernels/cuda. Weights are uploaded once in their
// stored dtype; the paged K/V live in device memory, while the host KvPool (without
// storage) and Sequence keep owning the block ids, so scheduling and accounting are the
// CPU engine's. Built only with LCKV_CUDA (docs/cuda.md).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/model_engine.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/paged_kv.h"
#include "model/weights.h"

namespace lckv {

class CudaEngine : public ModelEngine {
 public:
  // Uploads every weight (the store is released afterwards) and allocates the KV pool on
  // the current device. Throws OUT_OF_MEMORY when the device cannot hold them.
  CudaEngine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts);

  const ModelConfig& config() const override { return cfg_; }
  const LayerPlan& plan() const override { return plan_; }
  uint64_t parameter_count() const override { return parameters_; }
  const std::shared_ptr<KvPool>& kv_pool() const override { return pool_; }
  std::unique_ptr<Sequence> new_sequence() const override;

  void run_into(Sequence& seq, const RunRequest& req, float* logits) override;
  // Rows are computed independently, but unlike the CPU engine not bit for bit as alone:
  // the matmul path and the attention's split-K depend on the batch size (docs/cuda.md).
  void decode_into(Sequence* const* seqs, const int32_t* tokens, int64_t n, const uint8_t* want_logits,
                   float* logits) override;

 private:
  // The rows of one forward pass: n rows of sequence row 0 of the uploaded block tables
  // at pos0.. (prefill), or row i of sequence i at positions[i] (batched decode).
  struct Pass {
    int64_t n = 0;
    int64_t first = 0;         // row of act_.x the pass starts at (the others start at row 0)
    cuda::RowPositions rows;   // positions: device [n], or null for prefill
    int64_t max_position = 0;  // largest position of any row
    int32_t table_stride = 0;  // entries per sequence in tables_
  };

  // Device f32 buffers of one forward pass, grown on demand; each [rows, width of each].
  struct Activations {
    cuda::DeviceBuffer x, xb, q, k, v, att, proj, gate, up, x_in;
    cuda::DeviceBuffer logits;          // [rows, vocab]
    cuda::DeviceBuffer tokens;          // int32 [rows]
    cuda::DeviceBuffer positions;       // int64 [rows]
    cuda::DeviceBuffer wanted;          // int32 [rows]: rows that get logits (batched decode)
    cuda::DeviceBuffer tables;          // int32 [sequences, table_stride]
    cuda::DeviceBuffer attn_ws, mm_ws;  // kernel workspaces
    int64_t rows = 0;
  };

  WeightView upload(const WeightView& host);
  void ensure_rows(int64_t n);
  void upload_tables(Sequence* const* seqs, int64_t count, Pass& pass);
  cuda::PagedKv slot_kv(int32_t slot, const Pass& pass) const;
  void check_cancel() const;
  void run_layer(const Pass& pass, int32_t layer);
  void run_layers(const Pass& pass, int32_t begin, int32_t end);
  void prefill_iterative(const Pass& pass, int32_t passes);
  void matmul(cuda::DeviceBuffer& y, const float* x, int64_t n, const WeightView& w);
  void logits(const float* hidden, int64_t rows, float* out);

  ModelConfig cfg_;
  LayerPlan plan_;
  uint64_t parameters_ = 0;
  std::vector<cuda::DeviceBuffer> weight_memory_;  // owns every uploaded tensor
  ModelWeights w_;                                 // views into weight_memory_ (device pointers)
  EngineOptions opts_;
  cuda::DeviceBuffer inv_freq_;                    // double [head_dim / 2]
  std::shared_ptr<KvPool> pool_;                   // block ids only (no host storage)
  int64_t pool_rows_ = 0;                          // n_blocks * kBlockTokens
  cuda::DeviceBuffer kv_k_, kv_v_;                 // [slot, pool_rows_, n_kv_heads * head_dim] in kv dtype
  Activations act_;
  // Host-side staging of each pass's uploads, kept between passes so that a warm decode
  // step allocates no host memory.
  struct HostStaging {
    std::vector<int64_t> positions;  // [rows]
    std::vector<int32_t> wanted;     // rows that get logits
    std::vector<int32_t> tables;     // [sequences, table_stride]
  } host_;
  const std::atomic<bool>* cancel_ = nullptr;      // of the running request
  std::mutex mutex_;
};

}  // namespace lckv
