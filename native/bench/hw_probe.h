// Hardware limits measured on the kernels' own thread pool, so that the kernels benchmark
// can state each model figure as a fraction of what this machine reaches in the same run.
// Every probe returns the seconds of each repetition; callers take the best or the median.
#pragma once
#include <cstdint>
#include <vector>

#include "common/dtype.h"
#include "kernels/cpu/thread_pool.h"

namespace lckv {

// STREAM-style triad a[i] = b[i] + s * c[i] over three f32 arrays of n elements, the work
// split statically across the pool (each thread first-touches its own part). STREAM counts
// 12 bytes per element for it (read b, read c, write a; no write-allocate traffic).
std::vector<double> probe_triad(int64_t n, int32_t reps, ThreadPool& pool);
constexpr double kTriadBytesPerElement = 12.0;

// Sums one f32 array of n elements, the work split statically across the pool: read-only
// streaming, what decode does to its weights (4 bytes per element). On some machines
// reads alone reach well below what the triad's mix of reads and writes reports.
std::vector<double> probe_read(int64_t n, int32_t reps, ThreadPool& pool);

// y[m, n] = x[m, k] · w[n, k]ᵀ through the engine's matmul() with weights stored in
// `dtype` (f32 by default: the f32 peak our own kernel reaches); 2 * m * n * k flops per
// repetition.
std::vector<double> probe_matmul(int64_t m, int64_t n, int64_t k, int32_t reps, ThreadPool& pool,
                                 DType dtype = DType::F32);

// A multiply-add loop on registers only, on every thread of the pool: the arithmetic peak
// of the cores on the active instruction-set path, with no memory traffic at all.
struct FmaProbe {
  std::vector<double> seconds;  // [reps]
  double flops = 0;             // per repetition, all threads together
};
FmaProbe probe_fma(int64_t iterations, int32_t reps, ThreadPool& pool);

// Per-path loop bodies: `iterations` steps of independent multiply-add chains; each
// returns the flops it did and leaves its accumulators' sum in *sink so nothing is elided.
double fma_loop_generic(int64_t iterations, float* sink);
double fma_loop_avx2(int64_t iterations, float* sink);
double fma_loop_avx512(int64_t iterations, float* sink);
double fma_loop_neon(int64_t iterations, float* sink);

// Per-path bodies of probe_read: the sum of a[0 .. n) through independent vector adds.
// The portable one serves arm64 too (NEON is its baseline); x86-64's baseline is SSE2,
// which streams well below what the AVX2 kernels read.
float read_sum_generic(const float* a, int64_t n);
float read_sum_avx2(const float* a, int64_t n);

}  // namespace lckv
