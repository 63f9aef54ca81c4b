// The hardware probes of the kernels benchmark: every path's multiply-add loop does the
// work it counts (its accumulators end at the value that many steps must give), and the
// triad, read, matmul and decode attention probes time every repetition.
#include <cmath>
#include <vector>

#include "bench/attention_probe.h"
#include "bench/hw_probe.h"
#include "kernels/cpu/isa.h"
#include "test/check.h"

using namespace lckv;

namespace {

// The x86 and portable loops step every lane v <- 0.999 v + 0.001 (fixed point 1): the sum
// of `lanes` lanes that start at a total of `start` after `steps` steps.
double converging_sum(int64_t steps, double lanes, double start) { return lanes + (start - lanes) * std::pow(0.999, double(steps)); }

// The NEON loop adds 0.001 * 0.999 per step to each of its 64 lanes.
double growing_sum(int64_t steps, double lanes, double start) { return start + lanes * double(steps) * 0.001 * 0.999; }

bool near(float got, double want) { return std::fabs(double(got) - want) < 1e-3 * want; }

}  // namespace

TEST_CASE("hw probe: multiply-add loops count their flops and do the work") {
  const int64_t steps = 1000;
  float sink = 0;
  CHECK(fma_loop_generic(steps, &sink) == 2.0 * steps * 12 * 8);
  CHECK_MSG(near(sink, converging_sum(steps, 96, 95 * 96 / 2)), std::to_string(sink));  // lanes start at 0..95
  for (Isa isa : isa_available()) {
    sink = 0;
    if (isa == Isa::Avx2) {
      CHECK(fma_loop_avx2(steps, &sink) == 2.0 * steps * 12 * 8);
      CHECK_MSG(near(sink, converging_sum(steps, 96, 8 * 66)), std::to_string(sink));  // chain j's 8 lanes start at j
    } else if (isa == Isa::Avx512) {
      CHECK(fma_loop_avx512(steps, &sink) == 2.0 * steps * 12 * 16);
      CHECK_MSG(near(sink, converging_sum(steps, 192, 16 * 66)), std::to_string(sink));  // chain j's 16 lanes start at j
    } else if (isa == Isa::Neon) {
      CHECK(fma_loop_neon(steps, &sink) == 2.0 * steps * 16 * 4);
      CHECK_MSG(near(sink, growing_sum(steps, 64, 4 * 120)), std::to_string(sink));  // chain j's 4 lanes start at j
    }
  }
}

TEST_CASE("hw probe: every repetition is timed, on every thread count") {
  for (int32_t threads : {1, 3}) {
    ThreadPool pool(threads);
    for (const auto& seconds : {probe_triad(1001, 3, pool), probe_read(1001, 3, pool), probe_matmul(3, 5, 7, 3, pool)}) {
      CHECK(seconds.size() == 3);
      for (double s : seconds) CHECK(s >= 0 && std::isfinite(s));
    }
    const AttentionProbe att = probe_decode_attention(AttentionShape{4, 2, 8}, 3, 40, 1 << 16, 3, pool);
    CHECK(att.seconds.size() == 3);
    for (double s : att.seconds) CHECK(s > 0 && std::isfinite(s));
    CHECK(att.bytes == 2.0 * 3 * 40 * (2 * 8) * 2);  // K and V of 3 rows x 40 positions, 2 heads of 8, f16
    const FmaProbe fma = probe_fma(100, 2, pool);
    CHECK(fma.seconds.size() == 2);
    const double per_step = isa_active() == Isa::Neon ? 2.0 * 16 * 4 : (isa_active() == Isa::Avx512 || isa_active() == Isa::Avx512Bf16) ? 2.0 * 12 * 16 : 2.0 * 12 * 8;
    CHECK(fma.flops > 0 && fma.flops == double(threads) * 100 * per_step);
  }
}

TEST_CASE("hw probe: the read loops sum every element, on every path") {
  for (int64_t n : {0, 1, 31, 32, 1001}) {
    const std::vector<float> ones(static_cast<size_t>(n), 1.0f);
    CHECK_MSG(read_sum_generic(ones.data(), n) == float(n), "generic n=" + std::to_string(n));
    for (Isa isa : isa_available())
      if (isa == Isa::Avx2) CHECK_MSG(read_sum_avx2(ones.data(), n) == float(n), "avx2 n=" + std::to_string(n));
  }
}
