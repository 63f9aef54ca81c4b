#include "bench/gpu_decode_model.h"

#include <algorithm>
#include <cmath>

#include "bench/gpu_bench_util.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/kv_append.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/ops.h"

namespace lckv::bench {

namespace {

constexpr int32_t kBlock = 16;

cuda::DeviceBuffer random_bf16(int64_t count) {
  cuda::DeviceBuffer buf(size_t(count) * 2);
  fill_random(buf.data(), buf.bytes(), DType::BF16);
  return buf;
}

WeightView view(const cuda::DeviceBuffer& buf, int64_t rows, int64_t cols) {
  return WeightView{buf.data(), DType::BF16, rows, cols};
}

}  // namespace

DecodeModel::DecodeModel(const ModelConfig& cfg, int64_t kv_bytes, int64_t context)
    : cfg_(cfg), plan_(cfg.layer_types, cfg.n_layers, cfg.force_nodiag), context_(context) {
  const int64_t d = cfg.hidden_size, ffn = cfg.intermediate_size;
  const int64_t qw = int64_t(cfg.n_heads) * cfg.head_dim, kvw = int64_t(cfg.n_kv_heads) * cfg.head_dim;
  for (int32_t i = 0; i < cfg.n_layers; ++i) {
    Layer l;
    l.wq = random_bf16(qw * d);
    if (plan_.role(i).computes_kv) l.wk = random_bf16(kvw * d), l.wv = random_bf16(kvw * d);
    l.wo = random_bf16(d * qw);
    l.gate = random_bf16(ffn * d), l.up = random_bf16(ffn * d), l.down = random_bf16(d * ffn);
    l.attn_norm = random_bf16(d), l.ffn_norm = random_bf16(d);
    layers_.push_back(std::move(l));
  }
  embed_ = random_bf16(int64_t(cfg.vocab_size) * d);
  final_norm_ = random_bf16(d);
  lm_head_ = random_bf16(int64_t(cfg.vocab_size) * d);

  table_stride_ = (context + kBlock - 1) / kBlock;
  max_batch_ = kv_bytes / (kv_bytes_per_token() * table_stride_ * kBlock);
  const int64_t slots = int64_t(plan_.cached_layers().size());
  const size_t pool = size_t(max_batch_ * table_stride_ * kBlock * slots * kvw) * 2;
  kv_k_ = cuda::DeviceBuffer(pool), kv_v_ = cuda::DeviceBuffer(pool);
  kv_k_.fill_zero(), kv_v_.fill_zero();
  // Sequence b owns blocks b * table_stride .. : contiguous, as a fresh pool hands them out.
  std::vector<int32_t> tables(size_t(max_batch_ * table_stride_));
  for (size_t i = 0; i < tables.size(); ++i) tables[i] = int32_t(i);
  tables_ = cuda::DeviceBuffer(tables.size() * 4);
  tables_.upload(tables.data(), tables.size() * 4);
  std::vector<double> inv_freq;
  for (int32_t i = 0; i < cfg.head_dim / 2; ++i) inv_freq.push_back(std::pow(cfg.rope_theta, -2.0 * i / cfg.head_dim));
  inv_freq_ = cuda::DeviceBuffer(inv_freq.size() * 8);
  inv_freq_.upload(inv_freq.data(), inv_freq.size() * 8);
}

int64_t DecodeModel::kv_bytes_per_token() const {
  return int64_t(plan_.cached_layers().size()) * 2 * cfg_.n_kv_heads * cfg_.head_dim * 2;
}

void DecodeModel::step(int64_t batch, int64_t position) {
  const int64_t d = cfg_.hidden_size, ffn = cfg_.intermediate_size, n = batch;
  const int64_t qw = int64_t(cfg_.n_heads) * cfg_.head_dim, kvw = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  const int64_t pool_rows = max_batch_ * table_stride_ * kBlock;
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  const cuda::RowPositions rows{0, positions_.as<int64_t>()};
  auto mm = [&](cuda::DeviceBuffer& y, const cuda::DeviceBuffer& x, const WeightView& w) {
    cuda::matmul(y.as<float>(), x.as<float>(), n, w, mm_ws_.data(), mm_ws_.bytes(), nullptr);
  };
  auto slot_view = [&](int32_t slot) {
    const size_t off = size_t(slot) * size_t(pool_rows * kvw) * 2;
    return cuda::PagedKv{kv_k_.as<uint8_t>() + off, kv_v_.as<uint8_t>() + off, DType::F16, kvw,
                         tables_.as<int32_t>(), int32_t(table_stride_), kBlock};
  };

  cuda::embedding_gather(x_.as<float>(), tokens_.as<int32_t>(), n, view(embed_, cfg_.vocab_size, d), nullptr);
  for (int32_t i = 0; i < cfg_.n_layers; ++i) {
    const Layer& l = layers_[size_t(i)];
    const LayerRole& role = plan_.role(i);
    cuda::rmsnorm(xb_.as<float>(), x_.as<float>(), l.attn_norm.data(), DType::BF16, n, d, cfg_.rms_norm_eps, nullptr);
    mm(q_, xb_, view(l.wq, qw, d));
    cuda::rope_apply(q_.as<float>(), n, cfg_.n_heads, cfg_.head_dim, rows, inv_freq_.as<double>(), nullptr);
    if (role.computes_kv) {
      mm(k_, xb_, view(l.wk, kvw, d));
      mm(v_, xb_, view(l.wv, kvw, d));
      cuda::rope_apply(k_.as<float>(), n, cfg_.n_kv_heads, cfg_.head_dim, rows, inv_freq_.as<double>(), nullptr);
      cuda::kv_append(slot_view(role.kv_slot), k_.as<float>(), v_.as<float>(), n, rows, nullptr);
    }
    const AttentionMask mask{role.no_diag, role.sliding ? cfg_.sliding_window : 0};
    cuda::paged_decode_attention(att_.as<float>(), q_.as<float>(), n, positions_.as<int64_t>(), position,
                                 slot_view(plan_.role(role.target).kv_slot), shape, mask, attn_ws_.data(),
                                 attn_ws_.bytes(), nullptr);
    mm(proj_, att_, view(l.wo, d, qw));
    cuda::add_inplace(x_.as<float>(), proj_.as<float>(), n * d, nullptr);
    cuda::rmsnorm(xb_.as<float>(), x_.as<float>(), l.ffn_norm.data(), DType::BF16, n, d, cfg_.rms_norm_eps, nullptr);
    mm(gate_, xb_, view(l.gate, ffn, d));
    mm(up_, xb_, view(l.up, ffn, d));
    cuda::silu_mul(gate_.as<float>(), up_.as<float>(), n * ffn, nullptr);
    mm(proj_, gate_, view(l.down, d, ffn));
    cuda::add_inplace(x_.as<float>(), proj_.as<float>(), n * d, nullptr);
  }
  cuda::rmsnorm(xb_.as<float>(), x_.as<float>(), final_norm_.data(), DType::BF16, n, d, cfg_.rms_norm_eps, nullptr);
  mm(logits_, xb_, view(lm_head_, cfg_.vocab_size, d));
  cuda::argmax_rows(next_.as<int32_t>(), logits_.as<float>(), n, cfg_.vocab_size, nullptr);
}

double DecodeModel::time_step(int64_t batch, int64_t position, int reps) {
  const int64_t n = batch;
  const int64_t d = cfg_.hidden_size, ffn = cfg_.intermediate_size;
  const int64_t qw = int64_t(cfg_.n_heads) * cfg_.head_dim, kvw = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  if (n > rows_alloc_) {
    x_ = cuda::DeviceBuffer(size_t(n * d) * 4), xb_ = cuda::DeviceBuffer(size_t(n * d) * 4);
    proj_ = cuda::DeviceBuffer(size_t(n * d) * 4);
    q_ = cuda::DeviceBuffer(size_t(n * qw) * 4), att_ = cuda::DeviceBuffer(size_t(n * qw) * 4);
    k_ = cuda::DeviceBuffer(size_t(n * kvw) * 4), v_ = cuda::DeviceBuffer(size_t(n * kvw) * 4);
    gate_ = cuda::DeviceBuffer(size_t(n * ffn) * 4), up_ = cuda::DeviceBuffer(size_t(n * ffn) * 4);
    logits_ = cuda::DeviceBuffer(size_t(n * cfg_.vocab_size) * 4);
    positions_ = cuda::DeviceBuffer(size_t(n) * 8), tokens_ = cuda::DeviceBuffer(size_t(n) * 4);
    next_ = cuda::DeviceBuffer(size_t(n) * 4);
    const int64_t widest = std::max<int64_t>({d, qw, ffn});
    mm_ws_ = cuda::DeviceBuffer(cuda::matmul_workspace(n, WeightView{nullptr, DType::BF16, 1, widest}));
    rows_alloc_ = n;
  }
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  attn_ws_ = cuda::DeviceBuffer(cuda::paged_decode_attention_workspace(n, shape, AttentionMask{}, position));
  std::vector<int64_t> positions(size_t(n), position);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) tokens[size_t(i)] = int32_t((i * 7919) % cfg_.vocab_size);
  positions_.upload(positions.data(), positions.size() * 8);
  tokens_.upload(tokens.data(), tokens.size() * 4);
  // Each step re-writes position `position` of every sequence: the same work every time.
  return time_per_call([&] { step(n, position); }, 1, reps);
}

}  // namespace lckv::bench
