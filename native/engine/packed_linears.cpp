#include "engine/packed_linears.h"

namespace lckv {

namespace {

PackedWeight pack(const WeightView& w, const WeightStore& store) {
  if (!w.data) return PackedWeight();
  return PackedWeight(w, [&](int64_t rows_done) { store.release_rows(w, rows_done); });
}

}  // namespace

PackedLinears pack_linears(const ModelWeights& w, const WeightStore& store) {
  PackedLinears out;
  for (const LayerWeights& lw : w.layers)
    out.layers.push_back(PackedLayer{pack(lw.wq, store), pack(lw.wk, store), pack(lw.wv, store), pack(lw.wo, store),
                                     pack(lw.w_gate, store), pack(lw.w_up, store), pack(lw.w_down, store)});
  out.lm_head = pack(w.lm_head, store);
  return out;
}

}  // namespace lckv
