// What every engine checks and records around a forward pass, whichever device runs it:
// token ids, context and KV blocks before; each sequence's new length (and the blocks a
// sliding window lets go) after.
#pragma once
#include <cstdint>
#include <vector>

#include "cache/sequence.h"
#include "model/config.h"
#include "model/layer_plan.h"

namespace lckv {

// Checks a run of n tokens appended to seq and takes the blocks they need; returns the
// position of the first one.
int64_t begin_run(const ModelConfig& cfg, Sequence& seq, const int32_t* tokens, int64_t n);

// Checks one batched decode step (tokens[i] appended to seqs[i]) and takes each sequence's
// next block where needed; writes each row's position to positions[n].
void begin_decode(const ModelConfig& cfg, Sequence* const* seqs, const int32_t* tokens, int64_t n, int64_t* positions);

// Records that seq now holds `length` positions. When every layer slides, the blocks no
// query will read again go back to the pool.
void end_pass(const ModelConfig& cfg, const LayerPlan& plan, Sequence& seq, int64_t length);

}  // namespace lckv
