// The layer plan: the one place that decides which layer reads which KV, which layers
// are cached, how each layer is masked, and how a prompt is prefilled (ARCHITECTURE §4).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace lckv {

struct LayerRole {
  int32_t target = 0;       // u(i): the layer whose K/V this layer's queries attend to
  bool sliding = false;     // attends only to positions p > t - window
  bool attends_top = false; // u(i) > i: cannot see the current token's K/V
  bool no_diag = false;     // diagonal masked (attends_top or force_nodiag)
  bool computes_kv = false; // some layer targets this one: it has k_proj/v_proj
  int32_t kv_slot = -1;     // index into the cache's layer list when computes_kv
};

// One step of the prefill plan: layers [begin, end) run over all prompt tokens, `cyclic`
// steps repeatedly (the paper's iterative parallel prefill) from zero-initialised K/V.
struct PlanStep {
  int32_t begin = 0;
  int32_t end = 0;
  bool cyclic = false;
};

enum class PrefillMode { Auto = 0, Iterative = 1, Sequential = 2 };

class LayerPlan {
 public:
  LayerPlan() = default;
  LayerPlan(const std::string& layer_types, int32_t n_layers, bool force_nodiag);

  const LayerRole& role(int32_t layer) const { return roles_[size_t(layer)]; }
  int32_t n_layers() const { return int32_t(roles_.size()); }
  const std::vector<int32_t>& cached_layers() const { return cached_; }
  const std::vector<PlanStep>& steps() const { return steps_; }
  bool has_cycles() const { return has_cycles_; }
  // Every layer slides, so no query reads a cached position older than the window: a
  // sequence's blocks before it can go back to the pool.
  bool windowed_cache() const { return windowed_cache_; }

  // Resolves 'auto' the way the reference implementation does: token by token when the
  // config asks for it or when the prompt is no longer than the passes would be.
  PrefillMode resolve(PrefillMode requested, int32_t n_tokens, const ModelConfig& cfg) const;

 private:
  std::vector<LayerRole> roles_;
  std::vector<int32_t> cached_;
  std::vector<PlanStep> steps_;
  bool has_cycles_ = false;
  bool windowed_cache_ = false;
};

}  // namespace lckv
