#include "kernels/cpu/matmul.h"

#include <vector>

#include "kernels/cpu/isa.h"

namespace lckv {

namespace {
constexpr int64_t kRowAlign = 16;  // keep each thread's slice of w rows a multiple of the tile
}

void matmul(float* y, const float* x, int64_t n, const WeightView& w, ThreadPool& pool) {
  const Isa isa = isa_active();
  auto rows_fn = isa == Isa::Avx2 ? matmul_rows_avx2 : matmul_rows_generic;
  const int64_t tiles = (w.rows + kRowAlign - 1) / kRowAlign;
  pool.run([&](int32_t tid, int32_t n_threads) {
    int64_t t0, t1;
    split_range(tiles, tid, n_threads, &t0, &t1);
    const int64_t r0 = t0 * kRowAlign, r1 = t1 * kRowAlign < w.rows ? t1 * kRowAlign : w.rows;
    if (r0 < r1) rows_fn(y, x, n, w, r0, r1);
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
