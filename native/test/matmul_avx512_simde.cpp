// The AVX-512 panel matmul (kernels/cpu/matmul_avx512.cpp) compiled a second time, with
// SIMDe implementing each 512-bit intrinsic in AVX2 + FMA instructions (this file gets
// -mavx2 -mfma -mf16c from CMakeLists.txt), so a CPU without AVX-512 runs the same tile
// code: matmul_panels_avx512_simde(). Fused multiply-adds either way, so its bits must
// equal the AVX2 path's (test_kernels.cpp). Only the f16/bf16 widening differs (see there).
#define LCKV_AVX512_VIA_SIMDE 1
#define matmul_panels_avx512 matmul_panels_avx512_simde
#include "kernels/cpu/matmul_avx512.cpp"
