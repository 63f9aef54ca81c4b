// The model's weights as views into memory-mapped checkpoint files. lib/checkpoint.ts
// parses and validates the safetensors headers; this checks every view against the
// mapped file again before use, so a lying header can never read out of bounds.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/tensor_view.h"
#include "model/config.h"
#include "model/layer_plan.h"
#include "model/mapped_file.h"

namespace lckv {

struct TensorDesc {
  std::string name;
  int32_t file = 0;  // index into the checkpoint's file list
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset of the data in the file
  uint64_t nbytes = 0;
};

struct LayerWeights {
  WeightView attn_norm;            // [1, d]
  WeightView wq;                   // [n_heads * head_dim, d]
  WeightView wk, wv;               // [n_kv_heads * head_dim, d]; empty unless the layer computes K/V
  WeightView wo;                   // [d, n_heads * head_dim]
  WeightView ffn_norm;             // [1, d]
  WeightView w_gate, w_up;         // [ffn, d]
  WeightView w_down;               // [d, ffn]
};

struct ModelWeights {
  WeightView embed;       // [vocab, d]
  std::vector<LayerWeights> layers;
  WeightView final_norm;  // [1, d]
  WeightView lm_head;     // [vocab, d]; the embedding when tied
};

class WeightStore {
 public:
  WeightStore(const std::vector<std::string>& files, const std::vector<TensorDesc>& tensors);

  // Builds the per-layer views, checking names, shapes and which layers have K/V.
  ModelWeights bind(const ModelConfig& cfg, const LayerPlan& plan) const;
  uint64_t parameter_count() const;

  // Releases the mapped pages under the first `rows` rows of a view this store bound
  // (MappedFile::release); views into copies of misaligned tensors are left alone.
  void release_rows(const WeightView& w, int64_t rows) const;

 private:
  WeightView get(const std::string& name, int64_t rows, int64_t cols) const;
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  struct Entry {
    const void* data;
    DType dtype;
    std::vector<int64_t> shape;
  };
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> realigned_;  // copies of misaligned tensors
  std::map<std::string, Entry> tensors_;
};

}  // namespace lckv
