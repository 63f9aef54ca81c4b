#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "engine/pass_bounds.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace lckv {

namespace {

// Rows [0, n) in tasks of a few rows over the pool, once a batch is large enough to pay for
// the hand-out. Row-wise ops (norms, RoPE, SiLU, residual adds) compute each row the same
// wherever it runs, so results do not change.
template <typename Fn>
void for_row_ranges(ThreadPool& pool, int64_t n, Fn&& fn) {
  constexpr int64_t kTaskRows = 4;
  if (n < 2 * kTaskRows) return fn(int64_t(0), n);
  pool.for_each_task((n + kTaskRows - 1) / kTaskRows,
                     [&](int64_t t) { fn(t * kTaskRows, std::min(n, (t + 1) * kTaskRows)); });
}

}  // namespace

void Engine::Activations::ensure(const ModelConfig& cfg, int64_t n) {
  const auto d = size_t(n * cfg.hidden_size), q = size_t(n * cfg.n_heads * cfg.head_dim),
             kv = size_t(n * cfg.n_kv_heads * cfg.head_dim), ffn = size_t(n * cfg.intermediate_size);
  if (n <= rows) return;
  x.resize(d), xb.resize(d), proj.resize(d), x_in.resize(d);
  this->q.resize(q), att.resize(q);
  k.resize(kv), v.resize(kv);
  gate.resize(ffn), up.resize(ffn);
  rope.resize(size_t(n * cfg.head_dim));
  positions.resize(size_t(n));
  rows = n;
}

Engine::Engine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts)
    : cfg_(cfg),
      plan_(cfg.layer_types, cfg.n_layers, cfg.force_nodiag),
      store_(std::move(store)),
      w_(store_->bind(cfg_, plan_)),
      packing_(std::async(std::launch::async, [this] { return pack_linears(w_, *store_); })),
      opts_(opts),
      pool_(std::make_shared<KvPool>(int32_t(plan_.cached_layers().size()), int64_t(cfg_.n_kv_heads) * cfg_.head_dim,
                                     opts.kv_dtype, kv_pool_blocks(cfg_, plan_, opts))),
      threads_(opts.threads) {
  for (int32_t i = 0; i < cfg_.head_dim / 2; ++i)
    inv_freq_.push_back(std::pow(cfg_.rope_theta, -2.0 * i / double(cfg_.head_dim)));
}

int64_t Engine::kv_pool_blocks(const ModelConfig& cfg, const LayerPlan& plan, const EngineOptions& opts) {
  const int64_t bt = KvPool::kBlockTokens;
  const int64_t block_bytes = int64_t(plan.cached_layers().size()) * 2 * bt * cfg.n_kv_heads * cfg.head_dim *
                              int64_t(dtype_size(opts.kv_dtype));
  const int64_t context_blocks = (int64_t(cfg.max_positions) + bt - 1) / bt;
  int64_t blocks;
  if (opts.kv_bytes > 0) {
    blocks = opts.kv_bytes / block_bytes;
    if (blocks < 1)
      throw Error("INVALID_ARGUMENT", "kvCache.bytes (" + std::to_string(opts.kv_bytes) +
                                          ") is smaller than one KV block of " + std::to_string(block_bytes) + " bytes");
  } else if (opts.kv_tokens > 0) {
    blocks = (opts.kv_tokens + bt - 1) / bt;
  } else {
    blocks = std::max(context_blocks, std::min(4 * context_blocks, (int64_t(1) << 30) / block_bytes));
  }
  return blocks;
}

void Engine::ensure_packed() {
  if (packing_.valid()) packed_ = packing_.get();  // rethrows what packing threw (out of memory)
}

std::unique_ptr<Sequence> Engine::new_sequence() const { return std::make_unique<Sequence>(pool_, cfg_.max_positions); }

void Engine::embed(const int32_t* tokens, int64_t n) {
  for (int64_t i = 0; i < n; ++i) embedding_row(act_.x.data() + i * cfg_.hidden_size, w_.embed, tokens[i]);
}

void Engine::set_rope_angles(int64_t n, int64_t pos0, const int64_t* positions) {
  for (int64_t i = 0; i < n; ++i)
    rope_angles(act_.rope.data() + i * cfg_.head_dim, positions ? positions[i] : pos0 + i, cfg_.head_dim, inv_freq_.data());
}

void Engine::run_layer(const Rows& rows, int32_t layer) {
  const LayerWeights& lw = w_.layers[size_t(layer)];
  const PackedLayer& pw = packed_.layers[size_t(layer)];
  const LayerRole& role = plan_.role(layer);
  const int64_t n = rows.n, d = cfg_.hidden_size;
  const int64_t q_width = int64_t(cfg_.n_heads) * cfg_.head_dim, kv_width = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  const int64_t ffn = cfg_.intermediate_size;
  float* x = act_.x.data() + rows.first * d;
  float* xb = act_.xb.data();
  auto norm = [&](const WeightView& w) {  // xb = rmsnorm(x)
    for_row_ranges(threads_, n, [&](int64_t i0, int64_t i1) {
      rmsnorm(xb + i0 * d, x + i0 * d, w.data, w.dtype, i1 - i0, d, cfg_.rms_norm_eps);
    });
  };
  auto residual = [&] {  // x += proj
    for_row_ranges(threads_, n, [&](int64_t i0, int64_t i1) { add_inplace(x + i0 * d, act_.proj.data() + i0 * d, (i1 - i0) * d); });
  };
  // Rotates row i of `t` ([n, heads * head_dim]) by its own position (row first + i of the pass).
  auto rope = [&](float* t, int32_t heads, int64_t width) {
    for_row_ranges(threads_, n, [&](int64_t i0, int64_t i1) {
      rope_rotate(t + i0 * width, i1 - i0, heads, cfg_.head_dim, act_.rope.data() + (rows.first + i0) * cfg_.head_dim);
    });
  };

  norm(lw.attn_norm);
  const MatmulOut qkv[3] = {{act_.q.data(), pw.wq.view()}, {act_.k.data(), pw.wk.view()}, {act_.v.data(), pw.wv.view()}};
  matmul_many(qkv, role.computes_kv ? 3 : 1, xb, n, threads_);
  rope(act_.q.data(), cfg_.n_heads, q_width);
  if (role.computes_kv) {
    rope(act_.k.data(), cfg_.n_kv_heads, kv_width);
    if (rows.seq)
      rows.seq->write(role.kv_slot, rows.pos0, n, act_.k.data(), act_.v.data());
    else
      for (int64_t i = 0; i < n; ++i)
        rows.seqs[i]->write(role.kv_slot, rows.positions[i], 1, act_.k.data() + i * kv_width, act_.v.data() + i * kv_width);
  }
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  const AttentionMask mask{role.no_diag, role.sliding ? cfg_.sliding_window : 0};
  const int32_t slot = plan_.role(role.target).kv_slot;
  if (rows.seq) {
    attention(act_.att.data(), act_.q.data(), n, rows.pos0, rows.seq->view(slot), shape, mask, threads_);
  } else {
    act_.views.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) act_.views[size_t(i)] = rows.seqs[i]->view(slot);
    attention_rows(act_.att.data(), act_.q.data(), n, rows.positions, act_.views.data(), shape, mask, threads_);
  }
  matmul(act_.proj.data(), act_.att.data(), n, pw.wo.view(), threads_);
  residual();

  norm(lw.ffn_norm);
  const MatmulOut gate_up[2] = {{act_.gate.data(), pw.gate.view()}, {act_.up.data(), pw.up.view()}};
  matmul_many(gate_up, 2, xb, n, threads_);
  for_row_ranges(threads_, n, [&](int64_t i0, int64_t i1) {
    silu_mul(act_.gate.data() + i0 * ffn, act_.up.data() + i0 * ffn, (i1 - i0) * ffn);
  });
  matmul(act_.proj.data(), act_.gate.data(), n, pw.down.view(), threads_);
  residual();
}

void Engine::check_cancel() const {
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Error("ABORTED", "the request was aborted");
}

void Engine::run_layers(const Rows& rows, int32_t begin, int32_t end) {
  for (int32_t layer = begin; layer < end; ++layer) {
    check_cancel();
    run_layer(rows, layer);
  }
}

// The paper's prefill: a cyclic group starts from zero K/V for the new positions and is
// run `passes` times from the same input, each pass reading what the previous one wrote.
// After pass p (from 0) the first p + 1 rows are exact: a row reads only earlier rows of the
// previous pass, and those no longer change. So pass p recomputes rows p.. only: the rows
// before keep the outputs and K/V they had, which another pass would reproduce bit for bit.
void Engine::prefill_iterative(Sequence& seq, int64_t pos0, int64_t n, int32_t passes) {
  const int64_t d = cfg_.hidden_size;
  Rows rows;
  rows.n = n, rows.seq = &seq, rows.pos0 = pos0;
  for (const PlanStep& step : plan_.steps()) {
    if (!step.cyclic) {
      run_layers(rows, step.begin, step.end);
      continue;
    }
    for (int32_t layer = step.begin; layer < step.end; ++layer)
      if (plan_.role(layer).computes_kv) seq.zero(plan_.role(layer).kv_slot, pos0, n);
    std::memcpy(act_.x_in.data(), act_.x.data(), size_t(n * d) * sizeof(float));
    for (int32_t pass = 0; pass < passes; ++pass) {
      Rows open = rows;  // the rows not exact yet
      open.first = pass, open.n = n - pass, open.pos0 = pos0 + pass;
      if (pass > 0) std::memcpy(act_.x.data() + pass * d, act_.x_in.data() + pass * d, size_t(open.n * d) * sizeof(float));
      run_layers(open, step.begin, step.end);
    }
  }
}

void Engine::logits(const float* hidden, int64_t rows, float* out) {
  // Only `normed` may grow here: `hidden` can point into the other activations.
  if (act_.normed.size() < size_t(rows * cfg_.hidden_size)) act_.normed.resize(size_t(rows * cfg_.hidden_size));
  rmsnorm(act_.normed.data(), hidden, w_.final_norm.data, w_.final_norm.dtype, rows, cfg_.hidden_size, cfg_.rms_norm_eps);
  matmul(out, act_.normed.data(), rows, packed_.lm_head.view(), threads_);
}

void Engine::run_into(Sequence& seq, const RunRequest& req, float* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_packed();
  cancel_ = req.cancel;
  const int64_t n = req.n, d = cfg_.hidden_size;
  const int64_t pos0 = begin_run(cfg_, seq, req.tokens, n);
  const PrefillMode mode = plan_.resolve(req.mode, int32_t(n), cfg_);
  const int64_t rows = run_logit_rows(req);
  const float* hidden;  // the final hidden states of the last `rows` positions
  if (mode == PrefillMode::Sequential) {
    act_.ensure(cfg_, 1);
    // Each token's pass overwrites act_.x: keep the states that get logits (the last, or all).
    if (act_.kept.size() < size_t(rows * d)) act_.kept.resize(size_t(rows * d));
    for (int64_t i = 0; i < n; ++i) {
      embed(req.tokens + i, 1);
      set_rope_angles(1, pos0 + i, nullptr);
      Rows one;
      one.n = 1, one.seq = &seq, one.pos0 = pos0 + i;
      run_layers(one, 0, cfg_.n_layers);
      if (i >= n - rows) std::memcpy(act_.kept.data() + (i - (n - rows)) * d, act_.x.data(), size_t(d) * sizeof(float));
    }
    hidden = act_.kept.data();
  } else {
    act_.ensure(cfg_, n);
    embed(req.tokens, n);
    set_rope_angles(n, pos0, nullptr);
    const int32_t passes = req.passes > 0 ? req.passes : std::max(1, cfg_.forward_passes + cfg_.backward_passes);
    // Pass k makes positions < k exact, so passes beyond n recompute identical values.
    prefill_iterative(seq, pos0, n, int32_t(std::min<int64_t>(passes, n)));
    hidden = act_.x.data() + (n - rows) * d;
  }
  end_pass(cfg_, plan_, seq, pos0 + n);
  logits(hidden, rows, out);
}

void Engine::decode_into(Sequence* const* seqs, const int32_t* tokens, int64_t n, const uint8_t* want_logits,
                         float* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_packed();
  cancel_ = nullptr;  // a batch step is short; an aborted row is dropped after it
  act_.ensure(cfg_, n);
  int64_t* positions = act_.positions.data();
  begin_decode(cfg_, seqs, tokens, n, positions);
  embed(tokens, n);
  set_rope_angles(n, 0, positions);
  Rows rows;
  rows.n = n, rows.seqs = seqs, rows.positions = positions;
  run_layers(rows, 0, cfg_.n_layers);
  for (int64_t i = 0; i < n; ++i) end_pass(cfg_, plan_, *seqs[i], positions[i] + 1);
  if (!want_logits) return logits(act_.x.data(), n, out);
  const int64_t d = cfg_.hidden_size;
  int64_t wanted = 0;
  for (int64_t i = 0; i < n; ++i)
    if (want_logits[i])
      std::memcpy(act_.xb.data() + wanted++ * d, act_.x.data() + i * d, size_t(d) * sizeof(float));
  if (wanted > 0) logits(act_.xb.data(), wanted, out);
}

}  // namespace lckv
