// The AVX512-BF16 panel matmul (kernels/cpu/matmul_avx512bf16.cpp) compiled a second time
// through SIMDe, as matmul_avx512_simde.cpp does for the f32 tile: matmul_panels_avx512bf16_simde().
#define LCKV_AVX512_VIA_SIMDE 1
#define matmul_panels_avx512bf16 matmul_panels_avx512bf16_simde
#define round_to_bf16_avx512 round_to_bf16_avx512_simde
#include "kernels/cpu/matmul_avx512bf16.cpp"
