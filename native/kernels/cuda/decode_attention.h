// Paged decode attention for many sequences at once: row i (one new token of sequence i,
// at positions[i]) attends to one cached layer's K/V through sequence i's block table.
// The contract of kernels/cpu/attention.h's attention_rows, on the device.
//
// In LCKV most layers read the K/V of one cached layer, so this kernel is where a decode
// step spends its memory bandwidth: every query head of a GQA group shares each K/V row
// read, and long contexts are split over several blocks (split-K, "flash decoding") whose
// partial softmax states are merged by a second kernel.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/paged_kv.h"

namespace lckv::cuda {

// Bytes of device workspace that paged_decode_attention needs for n rows whose positions
// are all <= max_position (the split-K partial results).
size_t paged_decode_attention_workspace(int64_t n, const AttentionShape& shape, const AttentionMask& mask,
                                        int64_t max_position);

// out, q: device, [n, n_heads * head_dim] f32. positions: device, [n]; every positions[i]
// <= max_position, and sequence i's table covers positions <= positions[i].
// Row i's visible positions are attention_span(positions[i], mask); none -> zeros.
// workspace: device, paged_decode_attention_workspace(...) bytes.
void paged_decode_attention(float* out, const float* q, int64_t n, const int64_t* positions, int64_t max_position,
                            const PagedKv& kv, const AttentionShape& shape, const AttentionMask& mask,
                            void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace lckv::cuda
