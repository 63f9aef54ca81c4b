// AVX512-BF16 panel matmul for BF16 weights (the opt-in avx512bf16 path, isa.h): x arrives
// rounded to bf16, and one vdpbf16ps adds the products of two columns to a panel's 16
// outputs. A pair of bf16 columns then plays the part of one f32 column of the AVX-512
// tile (matmul_tiles.h): 4 bytes of x (broadcast as they are), 64 bytes of a panel (its
// two 16-value columns, interleaved so that lane j holds both of output j's weights).
// Twice the multiply-adds per instruction of the f32 tile, on the same register tiling.
//
// Machines without AVX512-BF16 run this tile too: native/test/matmul_avx512bf16_simde.cpp
// compiles this file again with LCKV_AVX512_VIA_SIMDE.
#include "kernels/cpu/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

// Standard headers before the target pragma (see matmul_avx512.cpp).
#include <algorithm>
#include <cstring>
#include <vector>

#if !defined(LCKV_AVX512_VIA_SIMDE)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512bf16,avx2,f16c,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512bf16,avx2,f16c,fma")
#endif
#endif

#include "kernels/cpu/avx512_vec.h"
#include "kernels/cpu/matmul_tiles.h"

namespace lckv {

namespace {

struct Bf16PairVec : avx512::Avx512Vec {
  // x: columns 2c and 2c + 1 of a row, two bf16 in 32 bits, in every lane.
  static V splat(const float* pair) {
    int32_t bits;
    std::memcpy(&bits, pair, sizeof bits);
    return LCKV_MM512(castsi512_ps)(LCKV_MM512(set1_epi32)(bits));
  }

  // w: columns 2c and 2c + 1 of a panel (16 bf16 each), interleaved to (w[2c][j], w[2c + 1][j]).
  template <DType T>
  static V load(const void* base, int64_t index) {
    static_assert(T == DType::F32, "a column pair is addressed as one f32 column");
    static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                             8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const avx512::Zmmi pair = LCKV_MM512(loadu_si512)(static_cast<const float*>(base) + index);
    return LCKV_MM512(castsi512_ps)(LCKV_MM512(permutexvar_epi16)(LCKV_MM512(loadu_si512)(kInterleave), pair));
  }

  // acc[j] += x[2c] * w[2c][j] + x[2c + 1] * w[2c + 1][j]
  static V fma(V acc, V x, V w) { return LCKV_MM512(dpbf16_ps)(acc, as_bf16(x), as_bf16(w)); }

  static avx512::ZmmBh as_bf16(V v) {
    avx512::ZmmBh out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }
};

}  // namespace

// The loop vectorizes here, under the target pragma; f32_to_bf16 is the one rounding rule.
void round_to_bf16_avx512(uint16_t* out, const float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = f32_to_bf16(x[i]);
}

void matmul_panels_avx512bf16(float* y, const uint16_t* x_bf16, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  const PackedView pairs{w.data, DType::F32, w.rows, w.cols / 2};
  PanelTiles<Bf16PairVec>::panels<DType::F32>(y, reinterpret_cast<const float*>(x_bf16), n, pairs, p0, p1);
}

}  // namespace lckv

#undef LCKV_MM512
#if defined(__clang__) && !defined(LCKV_AVX512_VIA_SIMDE)
#pragma clang attribute pop
#endif

#else

#include <vector>

namespace lckv {
// Never called off x86-64: isa_available() offers the AVX512-BF16 path only there.
void matmul_panels_avx512bf16(float* y, const uint16_t* x_bf16, int64_t n, const PackedView& w, int64_t p0, int64_t p1) {
  std::vector<float> x(size_t(n * w.cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(x_bf16[i]);
  matmul_panels_generic(y, x.data(), n, w, p0, p1);
}
void round_to_bf16_avx512(uint16_t* out, const float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = f32_to_bf16(x[i]);
}
}  // namespace lckv

#endif
