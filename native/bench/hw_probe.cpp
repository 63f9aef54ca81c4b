#include "bench/hw_probe.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace lckv {

namespace {

template <typename Fn>
double seconds_of(Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Streams over n elements split statically across the pool: init(tid, i0, i1) first
// touches each thread's own slice (so its pages land near it), then body(tid, i0, i1) runs
// on the same slices `reps` times; returns the seconds of each repetition.
template <typename Init, typename Body>
std::vector<double> timed_slices(int64_t n, int32_t reps, ThreadPool& pool, Init&& init, Body&& body) {
  auto on_slices = [&](auto&& fn) {
    pool.run([&](int32_t tid, int32_t n_threads) {
      int64_t i0, i1;
      split_range(n, tid, n_threads, &i0, &i1);
      fn(tid, i0, i1);
    });
  };
  on_slices(init);
  std::vector<double> out;
  for (int32_t r = 0; r < reps; ++r) out.push_back(seconds_of([&] { on_slices(body); }));
  return out;
}

// Independent chains: enough to cover the multiply-add latency on two pipes.
constexpr int kChains = 12;
constexpr int kLanes = 8;

}  // namespace

std::vector<double> probe_triad(int64_t n, int32_t reps, ThreadPool& pool) {
  // Left uninitialised here: each thread writes its own part first, so pages land near it.
  std::unique_ptr<float[]> a(new float[size_t(n)]), b(new float[size_t(n)]), c(new float[size_t(n)]);
  float* __restrict pa = a.get();
  float* __restrict pb = b.get();
  float* __restrict pc = c.get();
  const float s = 1.5f;
  return timed_slices(
      n, reps, pool,
      [&](int32_t, int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) pa[i] = 0.0f, pb[i] = 1.0f, pc[i] = 2.0f;
      },
      [&](int32_t, int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) pa[i] = pb[i] + s * pc[i];
      });
}

std::vector<double> probe_read(int64_t n, int32_t reps, ThreadPool& pool) {
  std::unique_ptr<float[]> a(new float[size_t(n)]);
  const float* pa = a.get();
  const auto sum = isa_runs_avx2(isa_active()) ? read_sum_avx2 : read_sum_generic;
  std::vector<float> sinks(size_t(pool.size()));
  return timed_slices(
      n, reps, pool, [&](int32_t, int64_t i0, int64_t i1) { std::fill(a.get() + i0, a.get() + i1, 1.0f); },
      [&](int32_t tid, int64_t i0, int64_t i1) { sinks[size_t(tid)] = sum(pa + i0, i1 - i0); });
}

float read_sum_generic(const float* a, int64_t n) {
  // Independent partial sums: the loop vectorizes and no add waits on the previous one.
  float part[kChains][kLanes] = {};
  int64_t i = 0;
  for (; i + kChains * kLanes <= n; i += kChains * kLanes)
    for (int j = 0; j < kChains; ++j)
      for (int l = 0; l < kLanes; ++l) part[j][l] += a[i + j * kLanes + l];
  float sum = 0;
  for (; i < n; ++i) sum += a[i];
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < kLanes; ++l) sum += part[j][l];
  return sum;
}

std::vector<double> probe_matmul(int64_t m, int64_t n, int64_t k, int32_t reps, ThreadPool& pool, DType dtype) {
  std::vector<float> x(size_t(m * k)), w(size_t(n * k)), y(size_t(m * n));  // [m, k], [n, k], [m, n]
  // Small values of both signs keep every product normal (no denormal slow path).
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int64_t(i % 17) - 8) * 0.01f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int64_t(i % 13) - 6) * 0.01f;
  std::vector<uint8_t> stored(w.size() * dtype_size(dtype));
  convert_from_f32(stored.data(), dtype, w.data(), int64_t(w.size()));
  const PackedWeight packed(WeightView{stored.data(), dtype, n, k});
  std::vector<double> out;
  for (int32_t r = 0; r < reps; ++r) out.push_back(seconds_of([&] { matmul(y.data(), x.data(), m, packed.view(), pool); }));
  return out;
}

FmaProbe probe_fma(int64_t iterations, int32_t reps, ThreadPool& pool) {
  // No default: a new ISA path must bring its own loop (-Wswitch says where), else its
  // "peak" would be the portable loop's.
  const Isa isa = isa_active();
  double (*loop)(int64_t, float*) = fma_loop_generic;
  switch (isa) {
    case Isa::Generic: loop = fma_loop_generic; break;
    case Isa::Avx2: loop = fma_loop_avx2; break;
    case Isa::Avx512:
    case Isa::Avx512Bf16: loop = fma_loop_avx512; break;  // the f32 peak: what exact paths can reach
    case Isa::Neon: loop = fma_loop_neon; break;
  }
  std::vector<double> flops(size_t(pool.size()));
  std::vector<float> sinks(size_t(pool.size()));
  FmaProbe out;
  for (int32_t r = 0; r < reps; ++r)
    out.seconds.push_back(seconds_of([&] {
      pool.run([&](int32_t tid, int32_t) { flops[size_t(tid)] = loop(iterations, &sinks[size_t(tid)]); });
    }));
  for (double f : flops) out.flops += f;
  return out;
}

double fma_loop_generic(int64_t iterations, float* sink) {
  // The factor < 1 keeps every chain converging to a normal value however long it runs;
  // it is read through *sink so that the compiler cannot evaluate the loop ahead of time.
  const float mul = 0.999f + *sink * 0.0f, add = 0.001f;
  float acc[kChains][kLanes];
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < kLanes; ++l) acc[j][l] = float(j * kLanes + l);
  for (int64_t it = 0; it < iterations; ++it)
    for (int j = 0; j < kChains; ++j)
      for (int l = 0; l < kLanes; ++l) acc[j][l] = acc[j][l] * mul + add;
  float sum = 0;
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < kLanes; ++l) sum += acc[j][l];
  *sink = sum;
  return 2.0 * double(iterations) * kChains * kLanes;
}

}  // namespace lckv
