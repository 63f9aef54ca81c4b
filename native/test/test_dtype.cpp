#include <cmath>
#include <random>

#include "common/dtype.h"
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
