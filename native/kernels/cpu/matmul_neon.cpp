// NEON panel matmul for arm64: each x row holds a panel's 16 outputs in four 4-lane
// accumulators; per column, one x value meets the panel's 16 weights (widened to f32 as
// they are loaded). A batch tile is 6 x rows by one panel (24 accumulators and 4 weight
// vectors of the 32 registers); one x row streams 3 panels at once. Every output is one
// fused multiply-add chain over its columns, so its result does not depend on the batch.
#include "kernels/cpu/matmul.h"

#if defined(__aarch64__)

#include "kernels/cpu/matmul_tiles.h"
#include "kernels/cpu/neon_vec.h"

namespace lckv {

namespace {

struct NeonVec {
  static constexpr int kLanes = 4, kDecodePanels = 3, kBatchRows = 6;
  using V = float32x4_t;
  static V zero() { return vdupq_n_f32(0.0f); }
  static V splat(const float* x) { return vld1q_dup_f32(x); }
  static V fma(V acc, V x, V w) { return vfmaq_f32(acc, x, w); }
  static V loadu(const float* p) { return vld1q_f32(p); }
  static void storeu(float* p, V v) { vst1q_f32(p, v); }
  template <DType T>
  static V load(const void* base, int64_t index) { return neon::load4<T>(base, index); }
};

}  // namespace

void matmul_panels_neon(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<NeonVec>::run(y, x, n, w, p0, p1);
}

}  // namespace lckv

#else

namespace lckv {
// Never called off arm64: isa_available() offers the NEON path only there.
void matmul_panels_neon(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  matmul_panels_generic(y, x, n, w, p0, p1);
}
}  // namespace lckv

#endif
