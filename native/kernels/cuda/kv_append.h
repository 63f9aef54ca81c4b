// Writes the new rows' K/V into the paged cache: the CUDA counterpart of Sequence::write.
#pragma once
#include <cstdint>

#include "kernels/cuda/device.h"
#include "kernels/cuda/paged_kv.h"

namespace lckv::cuda {

// For each of the n rows, stores k[i, :] and v[i, :] (f32, [n, kv.row_stride]) narrowed to
// kv.dtype at the storage row of (row_sequence(rows, i), row_position(rows, i)). The blocks
// must already be in the tables.
void kv_append(const PagedKv& kv, const float* k, const float* v, int64_t n, const RowPositions& rows,
               cudaStream_t stream);

// Sets rows [pos0, pos0 + n) of sequence 0 to zero (the start of an iterative prefill).
void kv_zero(const PagedKv& kv, int64_t pos0, int64_t n, cudaStream_t stream);

}  // namespace lckv::cuda
