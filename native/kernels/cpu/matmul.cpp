#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/isa.h"

namespace lckv {

namespace {
// Panels per task handed to a thread: 48 weight rows, ~74 KB of F16 weights at a hidden
// size of 768, so the hand-out costs little and both threads finish close together.
constexpr int64_t kTaskPanels = 3;

using PanelsFn = void (*)(float*, const float*, int64_t, const PackedView&, int64_t, int64_t);

// No default: a new ISA path must name its kernel (-Wswitch says where).
PanelsFn panels_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return matmul_panels_avx2;
    case Isa::Avx512:
    case Isa::Avx512Bf16: return matmul_panels_avx512;  // the latter's bf16 dot products: see matmul_many
    case Isa::Neon: return matmul_panels_neon;
    case Isa::Generic: break;
  }
  return matmul_panels_generic;
}

// On the avx512bf16 path, x rounded to bf16 once per call for the products that take bf16
// dot products, by every thread (a 512-token prefill rounds up to 1M values per call);
// null when no product takes them.
const uint16_t* x_for_bf16_dot(const MatmulOut* outs, int32_t count, const float* x, int64_t n, ThreadPool& pool) {
  constexpr int64_t kTaskValues = 1 << 15;
  thread_local std::vector<uint16_t> rounded;
  bool any = false;
  for (int32_t k = 0; k < count; ++k) any = any || bf16_dot_applies(outs[k].w);
  if (!any) return nullptr;
  const int64_t size = n * outs[0].w.cols;
  rounded.resize(size_t(size));
  // The pool's threads fill the caller's buffer: named inside the task, `rounded` would be
  // each worker's own thread_local.
  uint16_t* out = rounded.data();
  pool.for_each_task((size + kTaskValues - 1) / kTaskValues, [&](int64_t task) {
    const int64_t begin = task * kTaskValues;
    round_to_bf16_avx512(out + begin, x + begin, std::min(kTaskValues, size - begin));
  });
  return out;
}

}  // namespace

bool bf16_dot_applies(const PackedView& w) { return w.dtype == DType::BF16 && w.cols % 2 == 0; }

void matmul(float* y, const float* x, int64_t n, const PackedView& w, ThreadPool& pool) {
  const MatmulOut out{y, w};
  matmul_many(&out, 1, x, n, pool);
}

void matmul_many(const MatmulOut* outs, int32_t count, const float* x, int64_t n, ThreadPool& pool) {
  const Isa isa = isa_active();
  const PanelsFn panels_fn = panels_kernel(isa);
  const uint16_t* x_bf16 = isa == Isa::Avx512Bf16 ? x_for_bf16_dot(outs, count, x, n, pool) : nullptr;
  auto tasks_of = [](const PackedView& w) { return (panel_count(w.rows) + kTaskPanels - 1) / kTaskPanels; };
  int64_t tasks = 0;
  for (int32_t k = 0; k < count; ++k) tasks += tasks_of(outs[k].w);
  // Tasks number the products' panel ranges in order: find the product, then the range in it.
  pool.for_each_task(tasks, [&](int64_t task) {
    int32_t k = 0;
    while (task >= tasks_of(outs[k].w)) task -= tasks_of(outs[k++].w);
    const PackedView& w = outs[k].w;
    const int64_t p0 = task * kTaskPanels, p1 = std::min(panel_count(w.rows), p0 + kTaskPanels);
    if (x_bf16 && bf16_dot_applies(w))
      matmul_panels_avx512bf16(outs[k].y, x_bf16, n, w, p0, p1);
    else
      panels_fn(outs[k].y, x, n, w, p0, p1);
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

void matmul_panels_generic(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  thread_local std::vector<float> panel;  // one panel widened to f32, reused by every x row
  const int64_t cols = w.cols;
  panel.resize(size_t(cols * kPanelRows));
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t e = 0; e < cols * kPanelRows; ++e)
      panel[size_t(e)] = load_as_f32(w.data, w.dtype, size_t(p * cols * kPanelRows + e));
    const int64_t r0 = p * kPanelRows, valid = std::min(kPanelRows, w.rows - r0);
    for (int64_t i = 0; i < n; ++i) {
      float acc[kPanelRows] = {};
      for (int64_t c = 0; c < cols; ++c) {
        const float a = x[i * cols + c];
        for (int64_t l = 0; l < kPanelRows; ++l) acc[l] += a * panel[size_t(c * kPanelRows + l)];
      }
      std::copy(acc, acc + valid, y + i * w.rows + r0);
    }
  }
}

}  // namespace lckv
