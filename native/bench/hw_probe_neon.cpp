// The register-only multiply-add loop on the arm64 NEON path: sixteen independent 4-lane
// FMA chains, enough for up to four FMA pipes through a 4-cycle latency, within the 32
// vector registers. NEON is part of the base AArch64 architecture: no target attribute.
#include "bench/hw_probe.h"

#if defined(__aarch64__)

#include <arm_neon.h>

namespace lckv {

double fma_loop_neon(int64_t iterations, float* sink) {
  // Each chain adds a * b (~1e-3) per step into its accumulator, FMLA's own operand, so
  // no register copies; values stay normal for any run length. a is read through *sink
  // so that the compiler cannot evaluate the loop ahead of time. Sixteen named variables,
  // not an array: GCC stores an accumulator array back to the stack on every step.
  const float32x4_t a = vdupq_n_f32(0.001f + *sink * 0.0f), b = vdupq_n_f32(0.999f);
  float32x4_t c0 = vdupq_n_f32(0.f), c1 = vdupq_n_f32(1.f), c2 = vdupq_n_f32(2.f), c3 = vdupq_n_f32(3.f);
  float32x4_t c4 = vdupq_n_f32(4.f), c5 = vdupq_n_f32(5.f), c6 = vdupq_n_f32(6.f), c7 = vdupq_n_f32(7.f);
  float32x4_t c8 = vdupq_n_f32(8.f), c9 = vdupq_n_f32(9.f), c10 = vdupq_n_f32(10.f), c11 = vdupq_n_f32(11.f);
  float32x4_t c12 = vdupq_n_f32(12.f), c13 = vdupq_n_f32(13.f), c14 = vdupq_n_f32(14.f), c15 = vdupq_n_f32(15.f);
  for (int64_t it = 0; it < iterations; ++it) {
    c0 = vfmaq_f32(c0, a, b);
    c1 = vfmaq_f32(c1, a, b);
    c2 = vfmaq_f32(c2, a, b);
    c3 = vfmaq_f32(c3, a, b);
    c4 = vfmaq_f32(c4, a, b);
    c5 = vfmaq_f32(c5, a, b);
    c6 = vfmaq_f32(c6, a, b);
    c7 = vfmaq_f32(c7, a, b);
    c8 = vfmaq_f32(c8, a, b);
    c9 = vfmaq_f32(c9, a, b);
    c10 = vfmaq_f32(c10, a, b);
    c11 = vfmaq_f32(c11, a, b);
    c12 = vfmaq_f32(c12, a, b);
    c13 = vfmaq_f32(c13, a, b);
    c14 = vfmaq_f32(c14, a, b);
    c15 = vfmaq_f32(c15, a, b);
  }
  const float32x4_t s = vaddq_f32(
      vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7))),
      vaddq_f32(vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)), vaddq_f32(vaddq_f32(c12, c13), vaddq_f32(c14, c15))));
  *sink = vaddvq_f32(s);
  return 2.0 * double(iterations) * 16 * 4;
}

}  // namespace lckv

#else

namespace lckv {
// Never called off arm64: isa_active() cannot choose the NEON path there.
double fma_loop_neon(int64_t iterations, float* sink) { return fma_loop_generic(iterations, sink); }
}  // namespace lckv

#endif
