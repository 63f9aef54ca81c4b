#include "kernels/cpu/ops.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/isa.h"

namespace lckv {

void rmsnorm(float* out, const float* x, const void* weight, DType weight_dtype, int64_t n, int64_t d, float eps) {
  // An F16/BF16 weight widened once per call, not once per row (a prefill normalizes 512
  // rows with it); an F32 one is read in place.
  thread_local std::vector<float> widened;
  const float* w = static_cast<const float*>(weight);
  if (weight_dtype != DType::F32) {
    widened.resize(size_t(d));
    convert_to_f32(widened.data(), weight, weight_dtype, d);
    w = widened.data();
  }
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    // Four running sums instead of one chain of dependent adds (four times the throughput);
    // in double, their rounding almost never reaches the f32 result.
    double part[4] = {0, 0, 0, 0};
    int64_t c = 0;
    for (; c + 4 <= d; c += 4)
      for (int j = 0; j < 4; ++j) part[j] += double(xi[c + j]) * double(xi[c + j]);
    for (; c < d; ++c) part[0] += double(xi[c]) * double(xi[c]);
    const double sum_sq = (part[0] + part[1]) + (part[2] + part[3]);
    const float inv = float(1.0 / std::sqrt(sum_sq / double(d) + double(eps)));
    for (int64_t c = 0; c < d; ++c) out[i * d + c] = xi[c] * inv * w[c];
  }
}

void rope_angles(float* angles, int64_t position, int32_t head_dim, const double* inv_freq) {
  const int32_t half = head_dim / 2;
  for (int32_t f = 0; f < half; ++f) {
    const double angle = double(position) * inv_freq[f];
    angles[f] = float(std::cos(angle));
    angles[half + f] = float(std::sin(angle));
  }
}

void rope_rotate(float* x, int64_t n, int32_t n_heads, int32_t head_dim, const float* angles) {
  const int32_t half = head_dim / 2;
  for (int64_t i = 0; i < n; ++i) {
    const float* c = angles + i * head_dim;
    const float* s = c + half;
    for (int32_t h = 0; h < n_heads; ++h) {
      float* head = x + (i * n_heads + h) * head_dim;
      for (int32_t f = 0; f < half; ++f) {
        const float a = head[f], b = head[f + half];
        head[f] = a * c[f] - b * s[f];
        head[f + half] = b * c[f] + a * s[f];
      }
    }
  }
}

void rope_apply(float* x, int64_t n, int32_t n_heads, int32_t head_dim, int64_t pos0, const double* inv_freq) {
  std::vector<float> angles(static_cast<size_t>(head_dim));
  for (int64_t i = 0; i < n; ++i) {
    rope_angles(angles.data(), pos0 + i, head_dim, inv_freq);
    rope_rotate(x + i * n_heads * head_dim, 1, n_heads, head_dim, angles.data());
  }
}

void silu_mul(float* gate, const float* up, int64_t count) {
  (isa_runs_avx2(isa_active()) ? silu_mul_avx2 : silu_mul_generic)(gate, up, count);
}

void silu_mul_generic(float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add_inplace(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

namespace {

// Every f16 value widened once: a lookup beats the bit-twiddling decode in hot loops.
const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(uint16_t(h));
    return t;
  }();
  return table.data();
}

}  // namespace

void convert_to_f32(float* out, const void* src, DType src_dtype, int64_t count) {
  switch (src_dtype) {
    case DType::F32:
      std::memcpy(out, src, size_t(count) * sizeof(float));
      break;
    case DType::F16: {
      const float* table = f16_table();
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < count; ++i) out[i] = table[h[i]];
      break;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(h[i]);
      break;
    }
  }
}

void convert_from_f32(void* dst, DType dst_dtype, const float* src, int64_t count) {
  // The dtype is chosen once per call, not once per value.
  switch (dst_dtype) {
    case DType::F32:
      std::memcpy(dst, src, size_t(count) * sizeof(float));
      break;
    case DType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < count; ++i) h[i] = f32_to_f16(src[i]);
      break;
    }
    case DType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < count; ++i) h[i] = f32_to_bf16(src[i]);
      break;
    }
  }
}

void embedding_row(float* out, const WeightView& table, int64_t index) {
  const auto* base = static_cast<const uint8_t*>(table.data) + size_t(index * table.cols) * dtype_size(table.dtype);
  convert_to_f32(out, base, table.dtype, table.cols);
}

}  // namespace lckv
