#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace lckv {

void Engine::Activations::ensure(const ModelConfig& cfg, int64_t n) {
  const auto d = size_t(n * cfg.hidden_size), q = size_t(n * cfg.n_heads * cfg.head_dim),
             kv = size_t(n * cfg.n_kv_heads * cfg.head_dim), ffn = size_t(n * cfg.intermediate_size);
  if (n <= rows) return;
  x.resize(d), xb.resize(d), proj.resize(d), x_in.resize(d);
  this->q.resize(q), att.resize(q);
  k.resize(kv), v.resize(kv);
  gate.resize(ffn), up.resize(ffn);
  rows = n;
}

Engine::Engine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts)
    : cfg_(cfg),
      plan_(cfg.layer_types, cfg.n_layers, cfg.force_nodiag),
      store_(std::move(store)),
      w_(store_->bind(cfg_, plan_)),
      opts_(opts),
      pool_(opts.threads) {
  for (int32_t i = 0; i < cfg_.head_dim / 2; ++i)
    inv_freq_.push_back(std::pow(cfg_.rope_theta, -2.0 * i / double(cfg_.head_dim)));
}

std::unique_ptr<SequenceKv> Engine::new_sequence() const {
  return std::make_unique<SequenceKv>(int32_t(plan_.cached_layers().size()),
                                      int64_t(cfg_.n_kv_heads) * cfg_.head_dim, opts_.kv_dtype);
}

void Engine::embed(const int32_t* tokens, int64_t n) {
  for (int64_t i = 0; i < n; ++i) embedding_row(act_.x.data() + i * cfg_.hidden_size, w_.embed, tokens[i]);
}

void Engine::run_layer(SequenceKv& seq, int32_t layer, int64_t pos0, int64_t n) {
  const LayerWeights& lw = w_.layers[size_t(layer)];
  const LayerRole& role = plan_.role(layer);
  const int64_t d = cfg_.hidden_size;
  float* x = act_.x.data();
  float* xb = act_.xb.data();

  rmsnorm(xb, x, lw.attn_norm.data, lw.attn_norm.dtype, n, d, cfg_.rms_norm_eps);
  matmul(act_.q.data(), xb, n, lw.wq, pool_);
  rope_apply(act_.q.data(), n, cfg_.n_heads, cfg_.head_dim, pos0, inv_freq_.data());
  if (role.computes_kv) {
    matmul(act_.k.data(), xb, n, lw.wk, pool_);
    matmul(act_.v.data(), xb, n, lw.wv, pool_);
    rope_apply(act_.k.data(), n, cfg_.n_kv_heads, cfg_.head_dim, pos0, inv_freq_.data());
    seq.write(role.kv_slot, pos0, n, act_.k.data(), act_.v.data());
  }
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  const AttentionMask mask{role.no_diag, role.sliding ? cfg_.sliding_window : 0};
  attention(act_.att.data(), act_.q.data(), n, pos0, seq.view(plan_.role(role.target).kv_slot), shape, mask, pool_);
  matmul(act_.proj.data(), act_.att.data(), n, lw.wo, pool_);
  add_inplace(x, act_.proj.data(), n * d);

  rmsnorm(xb, x, lw.ffn_norm.data, lw.ffn_norm.dtype, n, d, cfg_.rms_norm_eps);
  matmul(act_.gate.data(), xb, n, lw.w_gate, pool_);
  matmul(act_.up.data(), xb, n, lw.w_up, pool_);
  silu_mul(act_.gate.data(), act_.up.data(), n * cfg_.intermediate_size);
  matmul(act_.proj.data(), act_.gate.data(), n, lw.w_down, pool_);
  add_inplace(x, act_.proj.data(), n * d);
}

void Engine::check_cancel() const {
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Error("ABORTED", "the request was aborted");
}

void Engine::run_layers(SequenceKv& seq, int32_t begin, int32_t end, int64_t pos0, int64_t n) {
  for (int32_t layer = begin; layer < end; ++layer) {
    check_cancel();
    run_layer(seq, layer, pos0, n);
  }
}

// The paper's prefill: a cyclic group starts from zero K/V for the new positions and is
// run `passes` times from the same input, each pass reading what the previous one wrote.
void Engine::prefill_iterative(SequenceKv& seq, int64_t pos0, int64_t n, int32_t passes) {
  const size_t width = size_t(n * cfg_.hidden_size);
  for (const PlanStep& step : plan_.steps()) {
    if (!step.cyclic) {
      run_layers(seq, step.begin, step.end, pos0, n);
      continue;
    }
    for (int32_t layer = step.begin; layer < step.end; ++layer)
      if (plan_.role(layer).computes_kv) seq.zero(plan_.role(layer).kv_slot, pos0, n);
    std::memcpy(act_.x_in.data(), act_.x.data(), width * sizeof(float));
    for (int32_t pass = 0; pass < passes; ++pass) {
      if (pass > 0) std::memcpy(act_.x.data(), act_.x_in.data(), width * sizeof(float));
      run_layers(seq, step.begin, step.end, pos0, n);
    }
  }
}

std::vector<float> Engine::logits(const float* hidden, int64_t rows) {
  const int64_t d = cfg_.hidden_size;
  std::vector<float> normed(size_t(rows * d));
  rmsnorm(normed.data(), hidden, w_.final_norm.data, w_.final_norm.dtype, rows, d, cfg_.rms_norm_eps);
  std::vector<float> out(size_t(rows * cfg_.vocab_size));
  matmul(out.data(), normed.data(), rows, w_.lm_head, pool_);
  return out;
}

std::vector<float> Engine::run(SequenceKv& seq, const RunRequest& req) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancel_ = req.cancel;
  const int64_t n = req.n, pos0 = seq.length(), d = cfg_.hidden_size;
  if (n <= 0) throw Error("INVALID_ARGUMENT", "at least one token is required");
  for (int64_t i = 0; i < n; ++i)
    if (req.tokens[i] < 0 || req.tokens[i] >= cfg_.vocab_size)
      throw Error("TOKEN_OUT_OF_RANGE", "token id " + std::to_string(req.tokens[i]) + " is outside [0, " +
                                            std::to_string(cfg_.vocab_size) + ")");
  if (pos0 + n > cfg_.max_positions)
    throw Error("CONTEXT_OVERFLOW", std::to_string(pos0 + n) + " tokens exceed the context of " +
                                        std::to_string(cfg_.max_positions));
  seq.reserve(pos0 + n);
  const PrefillMode mode = plan_.resolve(req.mode, int32_t(n), cfg_);
  std::vector<float> final_hidden;
  if (mode == PrefillMode::Sequential) {
    act_.ensure(cfg_, 1);
    final_hidden.resize(size_t(n * d));
    for (int64_t i = 0; i < n; ++i) {
      embed(req.tokens + i, 1);
      run_layers(seq, 0, cfg_.n_layers, pos0 + i, 1);
      std::memcpy(final_hidden.data() + i * d, act_.x.data(), size_t(d) * sizeof(float));
    }
  } else {
    act_.ensure(cfg_, n);
    embed(req.tokens, n);
    const int32_t passes = req.passes > 0 ? req.passes : std::max(1, cfg_.forward_passes + cfg_.backward_passes);
    // Pass k makes positions < k exact, so passes beyond n recompute identical values.
    prefill_iterative(seq, pos0, n, int32_t(std::min<int64_t>(passes, n)));
    final_hidden.assign(act_.x.begin(), act_.x.begin() + n * d);
  }
  seq.set_length(pos0 + n);
  const int64_t rows = req.all_logits ? n : 1;
  return logits(final_hidden.data() + (n - rows) * d, rows);
}

}  // namespace lckv
