#include "common/error.h"
#include "model/layer_plan.h"
#include "test/check.h"

using namespace lckv;

namespace {

std::string steps_str(const LayerPlan& p) {
  std::string s;
  for (const auto& st : p.steps())
    s += "[" + std::to_string(st.begin) + "," + std::to_string(st.end) + (st.cyclic ? ")c" : ")");
  return s;
}

std::string cached_str(const LayerPlan& p) {
  std::string s;
  for (int32_t l : p.cached_layers()) s += std::to_string(l) + " ";
  return s;
}

bool rejects(const std::string& types, int32_t layers) {
  try {
    LayerPlan p(types, layers, false);
  } catch (const Error& e) {
    return e.code() == "INVALID_LAYER_TYPES";
  }
  return false;
}

}  // namespace

TEST_CASE("layer plan: standard transformer caches every layer, one parallel step") {
  LayerPlan p("", 4, false);
  CHECK(cached_str(p) == "0 1 2 3 ");
  CHECK(steps_str(p) == "[0,4)");
  CHECK(!p.role(2).no_diag && !p.has_cycles());
}

TEST_CASE("layer plan: LCKV with warmup layers") {
  LayerPlan p("0_6_6_6_6_6_6_7", 8, false);
  CHECK(cached_str(p) == "0 6 7 ");
  CHECK(steps_str(p) == "[0,1)[1,7)c[7,8)");
  CHECK(p.role(1).attends_top && p.role(1).no_diag && !p.role(6).no_diag && p.role(7).target == 7);
  CHECK(!p.role(1).computes_kv && p.role(6).computes_kv);
}

TEST_CASE("layer plan: CLA, top-only, two groups, chained reach") {
  CHECK(cached_str(LayerPlan("0_0_2_2_4_4_6_6", 8, false)) == "0 2 4 6 ");
  CHECK(steps_str(LayerPlan("0_0_2_2_4_4_6_6", 8, false)) == "[0,8)");
  CHECK(steps_str(LayerPlan("7_7_7_7_7_7_7_7", 8, false)) == "[0,8)c");
  CHECK(steps_str(LayerPlan("0_3_3_3_4_7_7_7", 8, false)) == "[0,1)[1,4)c[4,5)[5,8)c");
  CHECK(steps_str(LayerPlan("2_3_2_3", 4, false)) == "[0,4)c");
}

TEST_CASE("layer plan: sliding suffix and force_nodiag") {
  LayerPlan p("0s_1s_2s_3s_3_3_3_3", 8, false);
  CHECK(p.role(0).sliding && !p.role(4).sliding && !p.has_cycles());
  LayerPlan q("0_1", 2, true);
  CHECK(q.role(0).no_diag && !q.role(0).attends_top);
}

TEST_CASE("layer plan: invalid layer_types are rejected") {
  CHECK(rejects("0__1", 2));
  CHECK(rejects("a_b", 2));
  CHECK(rejects("0_1", 3));
  CHECK(rejects("5", 1));
  CHECK(rejects("0s_1x", 2));
  CHECK(rejects("0_1_", 2));
  CHECK(rejects("99999999999", 1));
}

TEST_CASE("layer plan: auto prefill follows the reference") {
  ModelConfig cfg;
  cfg.forward_passes = 3, cfg.backward_passes = 2;
  LayerPlan p("0_6_6_6_6_6_6_7", 8, false);
  CHECK(p.resolve(PrefillMode::Auto, 5, cfg) == PrefillMode::Sequential);
  CHECK(p.resolve(PrefillMode::Auto, 6, cfg) == PrefillMode::Iterative);
  cfg.use_sequential = true;
  CHECK(p.resolve(PrefillMode::Auto, 60, cfg) == PrefillMode::Sequential);
  CHECK(p.resolve(PrefillMode::Iterative, 2, cfg) == PrefillMode::Iterative);
}
