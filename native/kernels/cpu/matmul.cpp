#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/isa.h"

namespace lckv {

namespace {
// Weight rows per task handed to a thread: a multiple of every register tile's row count (3, 4 and 8),
// and ~100 KB of F16 weights at a hidden size of 768, so the hand-out costs little.
constexpr int64_t kTaskRows = 48;
}

void matmul(float* y, const float* x, int64_t n, const WeightView& w, ThreadPool& pool) {
  const MatmulOut out{y, w};
  matmul_many(&out, 1, x, n, pool);
}

void matmul_many(const MatmulOut* outs, int32_t count, const float* x, int64_t n, ThreadPool& pool) {
  const Isa isa = isa_active();
  auto rows_fn = isa == Isa::Avx2 ? matmul_rows_avx2 : isa == Isa::Neon ? matmul_rows_neon : matmul_rows_generic;
  auto tasks_of = [](const WeightView& w) { return (w.rows + kTaskRows - 1) / kTaskRows; };
  int64_t tasks = 0;
  for (int32_t k = 0; k < count; ++k) tasks += tasks_of(outs[k].w);
  // Tasks number the products' row ranges in order: find the product, then the range in it.
  pool.for_each_task(tasks, [&](int64_t task) {
    int32_t k = 0;
    while (task >= tasks_of(outs[k].w)) task -= tasks_of(outs[k++].w);
    const WeightView& w = outs[k].w;
    rows_fn(outs[k].y, x, n, w, task * kTaskRows, std::min(w.rows, (task + 1) * kTaskRows));
  });
}

void matmul_reference(float* y, const float* x, int64_t n, const WeightView& w) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < w.rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < w.cols; ++c)
        acc += double(x[i * w.cols + c]) * double(load_as_f32(w.data, w.dtype, size_t(r * w.cols + c)));
      y[i * w.rows + r] = float(acc);
    }
}

void matmul_rows_generic(float* y, const float* x, int64_t n, const WeightView& w, int64_t r0, int64_t r1) {
  thread_local std::vector<float> row;
  row.resize(size_t(w.cols));
  const int64_t cols = w.cols;
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = 0; c < cols; ++c) row[size_t(c)] = load_as_f32(w.data, w.dtype, size_t(r * cols + c));
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x + i * cols;
      // Eight independent partial sums in a fixed order: vectorizable and deterministic.
      float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t c = 0;
      for (; c + 8 <= cols; c += 8)
        for (int k = 0; k < 8; ++k) part[k] += xi[c + k] * row[size_t(c + k)];
      for (; c < cols; ++c) part[c & 7] += xi[c] * row[size_t(c)];
      y[i * w.rows + r] = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
    }
  }
}

}  // namespace lckv
