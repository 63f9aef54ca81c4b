// lckv_cpu_kernels: the CPU matmul on every instruction-set path this CPU runs, beside the
// path's own multiply-add peak, from C++ alone: bench/gpu.sh runs it on GPU hosts, which
// have no Node (and often AVX-512, which the development VMs do not expose).
//   lckv_cpu_kernels [threads]      (default: every hardware thread)
// Each figure is the best of 5 repetitions: GFLOP/s of x 512 x 2048 · w 2048 x 2048 with
// the weights stored as F32, F16 and BF16, and of the register-only FMA loop.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "bench/hw_probe.h"
#include "kernels/cpu/isa.h"

using namespace lckv;

namespace {

constexpr int64_t kRows = 512, kSize = 2048;
constexpr int32_t kReps = 5;

double best_gflops(const std::vector<double>& seconds, double flops) {
  return flops / *std::min_element(seconds.begin(), seconds.end()) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int32_t threads = argc > 1 ? std::atoi(argv[1]) : int32_t(std::max(1u, std::thread::hardware_concurrency()));
  if (threads < 1) {
    std::fprintf(stderr, "usage: lckv_cpu_kernels [threads >= 1]\n");
    return 2;
  }
  ThreadPool pool(threads);
  std::printf("CPU kernels, %d threads, x %lld x %lld by w %lld x %lld, best of %d (GFLOP/s)\n\n", threads,
              (long long)kRows, (long long)kSize, (long long)kSize, (long long)kSize, kReps);
  std::printf("| path | FMA loop | matmul F32 | matmul F16 | matmul BF16 |\n|---|---:|---:|---:|---:|\n");
  const double matmul_flops = 2.0 * kRows * kSize * kSize;
  for (Isa isa : isa_available()) {
    isa_set_active(isa);
    const FmaProbe fma = probe_fma(1 << 20, kReps, pool);
    std::printf("| %s | %.1f", isa_name(isa), best_gflops(fma.seconds, fma.flops));
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
      std::printf(" | %.1f", best_gflops(probe_matmul(kRows, kSize, kSize, kReps, pool, dt), matmul_flops));
    std::printf(" |\n");
    std::fflush(stdout);
  }
  return 0;
}
