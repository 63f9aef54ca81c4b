// AVX-512 panel matmul: a panel's 16 outputs of an x row are one zmm accumulator; per
// column, one broadcast of x meets the panel's 16 weights (one load, widened to f32 as it
// is loaded). A batch tile is 12 x rows by one panel (12 accumulators of the 32 registers,
// 12 independent chains to cover the multiply-add latency); one x row streams 3 panels at
// once. The same fused multiply-add chains as the AVX2 path, so the same bits. Compiled for
// AVX-512F whatever the build's baseline; only called when isa_detect() found it.
//
// Machines without AVX-512 run this tile too: native/test/matmul_avx512_simde.cpp compiles
// this file again with LCKV_AVX512_VIA_SIMDE, where SIMDe implements each intrinsic with
// AVX2 instructions.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

// Standard headers before the target pragma: an inline function compiled under it could be
// the copy the linker keeps for every caller, also on CPUs without the instructions.
#include <algorithm>
#include <vector>

#if !defined(LCKV_AVX512_VIA_SIMDE)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx2,f16c,fma")
#endif
#endif

#include "kernels/cpu/avx512_vec.h"
#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

void matmul_panels_avx512(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  PanelTiles<avx512::Avx512Vec>::run(y, x, n, w, p0, p1);
}

}  // namespace lckv

#undef LCKV_MM512
#if defined(__clang__) && !defined(LCKV_AVX512_VIA_SIMDE)
#pragma clang attribute pop
#endif

#else

namespace lckv {
// Never called off x86-64: isa_available() offers the AVX-512 path only there.
void matmul_panels_avx512(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  matmul_panels_generic(y, x, n, w, p0, p1);
}
}  // namespace lckv

#endif
