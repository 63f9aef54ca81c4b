// Prefill attention: n query rows of one sequence, at positions pos0 .. pos0 + n - 1,
// against one cached layer's K/V (positions 0 .. pos0 + n - 1, read through the
// sequence's block table). The contract of kernels/cpu/attention.h's attention().
// Tiled with an online softmax (flash attention), f32 on the CUDA cores.
#pragma once
#include <cstdint>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/paged_kv.h"

namespace lckv::cuda {

// out, q: device, [n, n_heads * head_dim] f32. kv.block_tables row 0 is the sequence's.
// Row i's visible positions are attention_span(pos0 + i, mask); none -> zeros.
void prefill_attention(float* out, const float* q, int64_t n, int64_t pos0, const PagedKv& kv,
                       const AttentionShape& shape, const AttentionMask& mask, cudaStream_t stream);

}  // namespace lckv::cuda
