// The CPU engine's linear weights, packed once at load for the matmul kernels
// (kernels/cpu/packed_weight.h). Each matrix's mapped checkpoint pages are released while
// it is packed, so loading never holds two copies of the weights: resident memory stays at
// one copy plus a few hundred rows.
#pragma once
#include <vector>

#include "kernels/cpu/packed_weight.h"
#include "model/weights.h"

namespace lckv {

struct PackedLayer {
  PackedWeight wq, wk, wv, wo, gate, up, down;  // wk, wv empty unless the layer computes K/V
};

struct PackedLinears {
  std::vector<PackedLayer> layers;
  PackedWeight lm_head;
};

PackedLinears pack_linears(const ModelWeights& w, const WeightStore& store);

}  // namespace lckv
