#include "model/layer_plan.h"

#include <algorithm>

#include "common/error.h"

namespace lckv {

namespace {

struct ParsedEntry {
  int32_t target;
  bool sliding;
};

// Grammar: ^\d+s?(_\d+s?)*$
std::vector<ParsedEntry> parse_layer_types(const std::string& text, int32_t n_layers) {
  std::vector<ParsedEntry> out;
  size_t i = 0;
  while (true) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9')
      throw Error("INVALID_LAYER_TYPES", "layer_types '" + text + "' must match ^\\d+s?(_\\d+s?)*$");
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > 1000000) throw Error("INVALID_LAYER_TYPES", "layer_types entry is out of range");
      ++i;
    }
    bool sliding = i < text.size() && text[i] == 's';
    if (sliding) ++i;
    out.push_back({int32_t(value), sliding});
    if (i == text.size()) break;
    if (text[i] != '_')
      throw Error("INVALID_LAYER_TYPES", "layer_types '" + text + "' must match ^\\d+s?(_\\d+s?)*$");
    ++i;
  }
  if (int32_t(out.size()) != n_layers)
    throw Error("INVALID_LAYER_TYPES", "layer_types has " + std::to_string(out.size()) +
                                           " entries but the model has " + std::to_string(n_layers) + " layers");
  for (const auto& e : out)
    if (e.target >= n_layers)
      throw Error("INVALID_LAYER_TYPES", "layer_types entry " + std::to_string(e.target) + " is not a layer index");
  return out;
}

}  // namespace

LayerPlan::LayerPlan(const std::string& layer_types, int32_t n_layers, bool force_nodiag) {
  std::vector<ParsedEntry> entries;
  if (layer_types.empty()) {
    for (int32_t i = 0; i < n_layers; ++i) entries.push_back({i, false});
  } else {
    entries = parse_layer_types(layer_types, n_layers);
  }
  roles_.resize(size_t(n_layers));
  for (int32_t i = 0; i < n_layers; ++i) {
    LayerRole& r = roles_[size_t(i)];
    r.target = entries[size_t(i)].target;
    r.sliding = entries[size_t(i)].sliding;
    r.attends_top = r.target > i;
    r.no_diag = r.attends_top || force_nodiag;
    roles_[size_t(r.target)].computes_kv = true;
    has_cycles_ = has_cycles_ || r.attends_top;
  }
  windowed_cache_ = std::all_of(roles_.begin(), roles_.end(), [](const LayerRole& r) { return r.sliding; });
  for (int32_t i = 0; i < n_layers; ++i) {
    if (!roles_[size_t(i)].computes_kv) continue;
    roles_[size_t(i)].kv_slot = int32_t(cached_.size());
    cached_.push_back(i);
  }
  // Group formation follows the reference: a group starting at an upward-attending layer
  // ends above the largest target reachable from the layers inside it.
  int32_t i = 0;
  while (i < n_layers) {
    if (roles_[size_t(i)].attends_top) {
      int32_t top = roles_[size_t(i)].target;
      while (true) {
        int32_t reach = top;
        for (int32_t j = i; j <= top; ++j) reach = std::max(reach, roles_[size_t(j)].target);
        if (reach == top) break;
        top = reach;
      }
      steps_.push_back({i, top + 1, true});
      i = top + 1;
    } else {
      int32_t end = i + 1;
      while (end < n_layers && !roles_[size_t(end)].attends_top) ++end;
      steps_.push_back({i, end, false});
      i = end;
    }
  }
}

PrefillMode LayerPlan::resolve(PrefillMode requested, int32_t n_tokens, const ModelConfig& cfg) const {
  if (requested != PrefillMode::Auto) return requested;
  if (!has_cycles_) return PrefillMode::Iterative;  // one ordinary parallel pass
  if (cfg.use_sequential || n_tokens <= cfg.forward_passes + cfg.backward_passes) return PrefillMode::Sequential;
  return PrefillMode::Iterative;
}

}  // namespace lckv
