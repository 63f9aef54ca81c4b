// Model hyper-parameters as the engine needs them (parsed and validated in lib/config.ts).
#pragma once
#include <cstdint>
#include <string>

namespace lckv {

struct ModelConfig {
  int32_t vocab_size = 0;
  int32_t hidden_size = 0;        // d
  int32_t intermediate_size = 0;  // ffn
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t max_positions = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::string layer_types;  // "" means the identity plan 0_1_..._{L-1}
  int32_t forward_passes = 7;
  int32_t backward_passes = 2;
  int32_t sliding_window = 4096;
  bool use_sequential = false;
  bool force_nodiag = false;
};

}  // namespace lckv
