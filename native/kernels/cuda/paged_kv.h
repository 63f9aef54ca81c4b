// Where the K/V of one cached layer live on the device, and where the rows of a forward
// pass sit: the CUDA counterparts of the CPU KvView and of the engine's Rows.
#pragma once
#include <cstdint>

#include "common/dtype.h"

namespace lckv::cuda {

// One cached layer (one pool slot) of the paged KV cache in device memory, for a batch of
// sequences. Position p of sequence s, kv head h, dim d lives at
//   row(s, p) * row_stride + h * head_dim + d   of `k` and of `v`, where
//   row(s, p) = block_tables[s * table_stride + p / block_size] * block_size + p % block_size,
// exactly as kv_row_index() reads a CPU KvView. Kernels that only read do not write it.
struct PagedKv {
  void* k = nullptr;                     // device, [pool rows, row_stride] in dtype
  void* v = nullptr;                     // device, [pool rows, row_stride] in dtype
  DType dtype = DType::F16;
  int64_t row_stride = 0;                // elements per storage row (n_kv_heads * head_dim)
  const int32_t* block_tables = nullptr; // device, [sequences, table_stride] block ids
  int32_t table_stride = 0;              // entries in each sequence's table
  int32_t block_size = 16;               // positions per block
};

// The n rows of a forward pass. Prefill: every row is sequence 0's, row i at position
// pos0 + i (positions null). Batched decode: row i is sequence i's, at positions[i].
struct RowPositions {
  int64_t pos0 = 0;
  const int64_t* positions = nullptr;  // device, [n], or null
};

#ifdef __CUDACC__
__device__ __forceinline__ int64_t row_position(const RowPositions& rows, int64_t i) {
  return rows.positions ? rows.positions[i] : rows.pos0 + i;
}
__device__ __forceinline__ int64_t row_sequence(const RowPositions& rows, int64_t i) { return rows.positions ? i : 0; }

// Storage row of position p of sequence s.
__device__ __forceinline__ int64_t paged_row(const PagedKv& kv, int64_t s, int64_t p) {
  return int64_t(kv.block_tables[s * kv.table_stride + p / kv.block_size]) * kv.block_size + p % kv.block_size;
}
#endif

}  // namespace lckv::cuda
