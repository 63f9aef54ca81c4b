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
// p * row_stride + h * head_dim + d of `k` and of `v`.
struct KvView {
  const void* k = nullptr;
  const void* v = nullptr;
  DType dtype = DType::F16;
  int64_t row_stride = 0;
};

}  // namespace lckv
