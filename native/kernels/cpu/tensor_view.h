// Non-owning views that kernels take: a 2-D weight matrix in its stored dtype and one
// cached layer's K/V. Kernels never own memory and know nothing of models.
#pragma once
#include <cstdint>

#include "common/dtype.h"

namespace lckv {

// Row-major matrix [rows, cols] (a Linear weight is [out, in]).
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// One cached layer's keys and values: element (position p, kv head h, dim d) lives at
// row(p) * row_stride + h * head_dim + d of `k` and of `v`, where row(p) = p when `blocks`
// is null (contiguous), else blocks[p / block_size] * block_size + p % block_size (paged).
struct KvView {
  const void* k = nullptr;
  const void* v = nullptr;
  DType dtype = DType::F16;
  int64_t row_stride = 0;
  const int32_t* blocks = nullptr;  // [positions / block_size] block ids, or null
  int32_t block_size = 0;
};

// The storage row of position p in `kv`.
inline int64_t kv_row_index(const KvView& kv, int64_t p) {
  return kv.blocks ? int64_t(kv.blocks[p / kv.block_size]) * kv.block_size + p % kv.block_size : p;
}

}  // namespace lckv
