#include "model/weights.h"

#include <cstring>

#include "common/error.h"

namespace lckv {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

uint64_t element_count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("INVALID_SAFETENSORS", "negative dimension in " + shape_str(shape));
    if (d != 0 && n > UINT64_MAX / uint64_t(d)) throw Error("INVALID_SAFETENSORS", "tensor too large");
    n *= uint64_t(d);
  }
  return n;
}

}  // namespace

WeightStore::WeightStore(const std::vector<std::string>& files, const std::vector<TensorDesc>& tensors) {
  for (const auto& path : files) files_.push_back(std::make_unique<MappedFile>(path));
  for (const auto& t : tensors) {
    if (t.file < 0 || size_t(t.file) >= files_.size())
      throw Error("INVALID_SAFETENSORS", t.name + ": file index out of range");
    const MappedFile& f = *files_[size_t(t.file)];
    const uint64_t expected = element_count(t.shape) * dtype_size(t.dtype);
    if (t.nbytes != expected)
      throw Error("INVALID_SAFETENSORS", t.name + ": " + std::to_string(t.nbytes) + " bytes do not hold " +
                                             dtype_name(t.dtype) + " " + shape_str(t.shape));
    if (t.offset > f.size() || t.nbytes > f.size() - t.offset)
      throw Error("TRUNCATED_FILE", t.name + " lies past the end of " + f.path());
    if (tensors_.count(t.name)) throw Error("INVALID_SAFETENSORS", "tensor " + t.name + " appears twice");
    const uint8_t* p = f.data() ? f.data() + t.offset : nullptr;
    if (p && reinterpret_cast<uintptr_t>(p) % dtype_size(t.dtype) != 0) {
      // Kernels load elements of their own width; keep a private aligned copy.
      realigned_.push_back(std::make_unique<std::vector<uint8_t>>(p, p + t.nbytes));
      p = realigned_.back()->data();
    }
    tensors_[t.name] = Entry{p, t.dtype, t.shape};
  }
}

WeightView WeightStore::get(const std::string& name, int64_t rows, int64_t cols) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("MISSING_TENSOR", "checkpoint has no tensor " + name);
  const Entry& e = it->second;
  const bool is_vector = rows == 1 && e.shape.size() == 1 && e.shape[0] == cols;
  const bool is_matrix = e.shape.size() == 2 && e.shape[0] == rows && e.shape[1] == cols;
  if (!is_vector && !is_matrix)
    throw Error("SHAPE_MISMATCH", name + " has shape " + shape_str(e.shape) + ", expected " +
                                      (rows == 1 ? shape_str({cols}) : shape_str({rows, cols})));
  return WeightView{e.data, e.dtype, rows, cols};
}

ModelWeights WeightStore::bind(const ModelConfig& cfg, const LayerPlan& plan) const {
  const int64_t d = cfg.hidden_size, q_width = int64_t(cfg.n_heads) * cfg.head_dim,
                kv_width = int64_t(cfg.n_kv_heads) * cfg.head_dim, ffn = cfg.intermediate_size;
  ModelWeights w;
  w.embed = get("model.embed_tokens.weight", cfg.vocab_size, d);
  w.final_norm = get("model.norm.weight", 1, d);
  if (has("lm_head.weight")) {
    w.lm_head = get("lm_head.weight", cfg.vocab_size, d);
  } else if (cfg.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    throw Error("MISSING_TENSOR", "checkpoint has no lm_head.weight and tie_word_embeddings is false");
  }
  for (int32_t i = 0; i < cfg.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.attn_norm = get(p + "input_layernorm.weight", 1, d);
    l.wq = get(p + "self_attn.q_proj.weight", q_width, d);
    if (plan.role(i).computes_kv) {
      l.wk = get(p + "self_attn.k_proj.weight", kv_width, d);
      l.wv = get(p + "self_attn.v_proj.weight", kv_width, d);
    }
    l.wo = get(p + "self_attn.o_proj.weight", d, q_width);
    l.ffn_norm = get(p + "post_attention_layernorm.weight", 1, d);
    l.w_gate = get(p + "mlp.gate_proj.weight", ffn, d);
    l.w_up = get(p + "mlp.up_proj.weight", ffn, d);
    l.w_down = get(p + "mlp.down_proj.weight", d, ffn);
    w.layers.push_back(l);
  }
  return w;
}

uint64_t WeightStore::parameter_count() const {
  uint64_t n = 0;
  for (const auto& kv : tensors_) n += element_count(kv.second.shape);
  return n;
}

void WeightStore::release_rows(const WeightView& w, int64_t rows) const {
  for (const auto& f : files_)
    if (f->contains(w.data)) return f->release(w.data, uint64_t(rows * w.cols) * dtype_size(w.dtype));
}

}  // namespace lckv
