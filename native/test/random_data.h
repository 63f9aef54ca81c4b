// Random inputs for the native tests: normally distributed floats, their bytes in a stored
// dtype, a small model shape, and whole random checkpoints (every tensor WeightStore::bind
// asks for, as raw bytes in one temporary file, their offsets handed to WeightStore) for
// tests that run an engine.
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "kernels/cpu/ops.h"
#include "model/weights.h"

namespace lckv::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// f32 values stored in `dtype`, as bytes.
inline std::vector<uint8_t> encode(const std::vector<float>& v, DType dtype) {
  std::vector<uint8_t> out(v.size() * dtype_size(dtype));
  convert_from_f32(out.data(), dtype, v.data(), int64_t(v.size()));
  return out;
}

// The small shape the engine tests run (vocab 97, hidden 64, ffn 96, head_dim 16), one
// layer per entry of `layer_types`; callers set the context and the prefill passes.
inline ModelConfig small_config(const std::string& layer_types, int32_t n_heads, int32_t n_kv_heads, int32_t sliding_window) {
  ModelConfig c;
  c.vocab_size = 97, c.hidden_size = 64, c.intermediate_size = 96;
  c.n_layers = 1;
  for (char ch : layer_types) c.n_layers += ch == '_' ? 1 : 0;
  c.n_heads = n_heads, c.n_kv_heads = n_kv_heads, c.head_dim = 16;
  c.rms_norm_eps = 1e-5f, c.rope_theta = 10000.0;
  c.layer_types = layer_types;
  c.sliding_window = sliding_window;
  return c;
}

// Random weights for every tensor of `cfg`, in one temporary file deleted with the
// checkpoint (engines keep their own mappings or copies). Scales keep activations O(1) and
// logits spread out (few greedy near-ties).
struct RandomCheckpoint {
  std::string path;
  std::vector<TensorDesc> tensors;

  RandomCheckpoint(const ModelConfig& cfg, DType dtype, uint32_t seed) {
    char name[] = "/tmp/lckv_test_checkpoint_XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) throw Error("FILE_READ_FAILED", "cannot create a temporary checkpoint");
    path = name;
    const LayerPlan plan(cfg.layer_types, cfg.n_layers, cfg.force_nodiag);
    const int64_t d = cfg.hidden_size, ffn = cfg.intermediate_size;
    const int64_t q_width = int64_t(cfg.n_heads) * cfg.head_dim, kv_width = int64_t(cfg.n_kv_heads) * cfg.head_dim;
    std::vector<uint8_t> bytes;
    uint32_t next_seed = seed;
    auto add = [&](const std::string& tensor, int64_t rows, int64_t cols, float mean, float scale) {
      std::vector<float> v = random_floats(size_t(rows * cols), next_seed++, scale);
      for (float& x : v) x += mean;
      const std::vector<uint8_t> encoded = encode(v, dtype);
      TensorDesc t;
      t.name = tensor, t.dtype = dtype, t.offset = bytes.size(), t.nbytes = encoded.size();
      t.shape = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
      tensors.push_back(t);
      bytes.insert(bytes.end(), encoded.begin(), encoded.end());
    };
    const float proj = 1.0f / std::sqrt(float(d)), down = 1.0f / std::sqrt(float(ffn));
    add("model.embed_tokens.weight", cfg.vocab_size, d, 0.0f, 1.0f);
    add("model.norm.weight", 1, d, 1.0f, 0.1f);
    if (!cfg.tie_word_embeddings) add("lm_head.weight", cfg.vocab_size, d, 0.0f, proj);
    for (int32_t i = 0; i < cfg.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      add(p + "input_layernorm.weight", 1, d, 1.0f, 0.1f);
      add(p + "self_attn.q_proj.weight", q_width, d, 0.0f, proj);
      if (plan.role(i).computes_kv) {
        add(p + "self_attn.k_proj.weight", kv_width, d, 0.0f, proj);
        add(p + "self_attn.v_proj.weight", kv_width, d, 0.0f, proj);
      }
      add(p + "self_attn.o_proj.weight", d, q_width, 0.0f, 1.0f / std::sqrt(float(q_width)));
      add(p + "post_attention_layernorm.weight", 1, d, 1.0f, 0.1f);
      add(p + "mlp.gate_proj.weight", ffn, d, 0.0f, proj);
      add(p + "mlp.up_proj.weight", ffn, d, 0.0f, proj);
      add(p + "mlp.down_proj.weight", d, ffn, 0.0f, down);
    }
    const bool written = write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size());
    close(fd);
    if (!written) throw Error("FILE_READ_FAILED", "cannot write the temporary checkpoint");
  }
  ~RandomCheckpoint() { unlink(path.c_str()); }
  RandomCheckpoint(const RandomCheckpoint&) = delete;
  RandomCheckpoint& operator=(const RandomCheckpoint&) = delete;

  std::unique_ptr<WeightStore> store() const { return std::make_unique<WeightStore>(std::vector<std::string>{path}, tensors); }
};

}  // namespace lckv::test
