#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "kernels/cpu/ops.h"
#include "test/check.h"

using namespace lckv;

TEST_CASE("f16: every finite value survives f16 -> f32 -> f16") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    CHECK_MSG(f32_to_f16(f) == h, std::to_string(h));
  }
}

// The nearest f16 found by brute force over all values, ties to the even mantissa.
static uint16_t nearest_f16(float f) {
  uint16_t best = 0;
  double best_err = INFINITY;
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const double err = std::fabs(double(f16_to_f32(uint16_t(h))) - std::fabs(double(f)));
    if (err < best_err || (err == best_err && (h & 1) == 0)) best = uint16_t(h), best_err = err;
  }
  return uint16_t(best | (f < 0 ? 0x8000 : 0));
}

TEST_CASE("f16: f32 -> f16 rounds to nearest even (random values incl. subnormals)") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-26.0f, 15.9f), sign(-1.0f, 1.0f);
  for (int i = 0; i < 300; ++i) {
    const float f = std::copysign(std::exp2(exponent(rng)), sign(rng));
    CHECK_MSG(f32_to_f16(f) == nearest_f16(f), std::to_string(f));
  }
  CHECK(f32_to_f16(65520.0f) == 0x7c00);  // rounds up to infinity
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
}

TEST_CASE("bf16: rounding to nearest even and exact round trip") {
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(f32_to_bf16(bits_to_f32(0x3f808000)) == 0x3f80);  // tie -> even
  CHECK(f32_to_bf16(bits_to_f32(0x3f818000)) == 0x3f82);  // tie -> even (up)
  CHECK(f32_to_bf16(bits_to_f32(0x3f808001)) == 0x3f81);
  for (uint32_t h = 0; h < 65536; h += 7) {
    const float f = bf16_to_f32(uint16_t(h));
    if (!std::isnan(f)) CHECK(f32_to_bf16(f) == h);
  }
}

// The buffer conversion (its loops vectorized by the compiler) gives each value's scalar
// rounding: specials, both signs, subnormals, overflow and ties, at lengths with tails.
TEST_CASE("convert_from_f32: a buffer converts value by value, bit for bit") {
  std::vector<float> src = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65520.0f, -65536.0f, 1e-8f,
                            -3e-7f, 5.96e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 3.4e38f, 1e-40f};
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 997; ++i) src.push_back(bits_to_f32(bits(rng)));
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (size_t n : {size_t(1), size_t(7), size_t(16), src.size()}) {
      std::vector<uint8_t> got(n * dtype_size(dt)), want(got.size());
      convert_from_f32(got.data(), dt, src.data(), int64_t(n));
      for (size_t i = 0; i < n; ++i) store_from_f32(want.data(), dt, i, src[i]);
      CHECK_MSG(got == want, std::string(dtype_name(dt)) + " n=" + std::to_string(n));
    }
}
