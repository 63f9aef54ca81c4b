#include "engine/cuda_engine.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "engine/pass_bounds.h"
#include "engine/engine.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/kv_append.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/prefill_attention.h"

namespace lckv {

namespace {

// Every launch and copy goes to the legacy default stream: the synchronous copies of
// DeviceBuffer::upload / download are ordered with the kernels on it, so a pass needs no
// explicit synchronization and its results are complete once the logits are downloaded.
constexpr cudaStream_t kStream = nullptr;

// Grows `buf` to at least `bytes` (contents are not kept: callers refill it every pass).
void ensure_bytes(cuda::DeviceBuffer& buf, size_t bytes) {
  if (buf.bytes() < bytes) buf = cuda::DeviceBuffer(bytes);
}

}  // namespace

CudaEngine::CudaEngine(const ModelConfig& cfg, std::unique_ptr<WeightStore> store, const EngineOptions& opts)
    : cfg_(cfg),
      plan_(cfg.layer_types, cfg.n_layers, cfg.force_nodiag),
      parameters_(store->parameter_count()),
      opts_(opts) {
  if (!cuda::device_available()) throw Error("DEVICE_UNAVAILABLE", "no CUDA device (or no driver) on this machine");
  const ModelWeights host = store->bind(cfg_, plan_);
  w_.embed = upload(host.embed);
  w_.final_norm = upload(host.final_norm);
  w_.lm_head = host.lm_head.data == host.embed.data ? w_.embed : upload(host.lm_head);  // tied: one copy
  for (const LayerWeights& l : host.layers) {
    LayerWeights d;
    d.attn_norm = upload(l.attn_norm), d.ffn_norm = upload(l.ffn_norm);
    d.wq = upload(l.wq), d.wk = upload(l.wk), d.wv = upload(l.wv), d.wo = upload(l.wo);
    d.w_gate = upload(l.w_gate), d.w_up = upload(l.w_up), d.w_down = upload(l.w_down);
    w_.layers.push_back(d);
  }

  std::vector<double> inv_freq;
  for (int32_t i = 0; i < cfg_.head_dim / 2; ++i) inv_freq.push_back(std::pow(cfg_.rope_theta, -2.0 * i / double(cfg_.head_dim)));
  inv_freq_ = cuda::DeviceBuffer(inv_freq.size() * sizeof(double));
  inv_freq_.upload(inv_freq.data(), inv_freq_.bytes());

  const int64_t blocks = Engine::kv_pool_blocks(cfg_, plan_, opts_);
  const int32_t slots = int32_t(plan_.cached_layers().size());
  const int64_t kv_width = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  pool_ = std::make_shared<KvPool>(slots, kv_width, opts_.kv_dtype, blocks, /*host_storage=*/false);
  pool_rows_ = blocks * KvPool::kBlockTokens;
  const size_t kv_bytes = size_t(slots) * size_t(pool_rows_) * size_t(kv_width) * dtype_size(opts_.kv_dtype);
  kv_k_ = cuda::DeviceBuffer(kv_bytes), kv_v_ = cuda::DeviceBuffer(kv_bytes);
  // Attention tiles load whole tiles of rows and mask the scores; zeros keep rows that were
  // never written finite, so a masked weight of 0 never meets a NaN.
  kv_k_.fill_zero(), kv_v_.fill_zero();
}

// The host views point into the mapped checkpoint, which the store releases after the
// constructor: each tensor gets its own device copy in its stored dtype.
WeightView CudaEngine::upload(const WeightView& host) {
  if (!host.data) return host;  // k_proj / v_proj of a layer that computes no K/V
  const size_t bytes = size_t(host.rows * host.cols) * dtype_size(host.dtype);
  cuda::DeviceBuffer buf(bytes);
  buf.upload(host.data, bytes);
  const WeightView view{buf.data(), host.dtype, host.rows, host.cols};
  weight_memory_.push_back(std::move(buf));
  return view;
}

std::unique_ptr<Sequence> CudaEngine::new_sequence() const { return std::make_unique<Sequence>(pool_, cfg_.max_positions); }

void CudaEngine::ensure_rows(int64_t n) {
  if (n <= act_.rows) return;
  const int64_t d = cfg_.hidden_size, ffn = cfg_.intermediate_size;
  const int64_t q_width = int64_t(cfg_.n_heads) * cfg_.head_dim, kv_width = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  auto f32 = [n](int64_t width) { return cuda::DeviceBuffer(size_t(n * width) * sizeof(float)); };
  act_.x = f32(d), act_.xb = f32(d), act_.proj = f32(d), act_.x_in = f32(d);
  act_.q = f32(q_width), act_.att = f32(q_width);
  act_.k = f32(kv_width), act_.v = f32(kv_width);
  act_.gate = f32(ffn), act_.up = f32(ffn);
  act_.tokens = cuda::DeviceBuffer(size_t(n) * sizeof(int32_t));
  act_.positions = cuda::DeviceBuffer(size_t(n) * sizeof(int64_t));
  act_.wanted = cuda::DeviceBuffer(size_t(n) * sizeof(int32_t));
  // The widest input of any product, as 16-bit weights need it (F32 weights need none).
  const int64_t widest = std::max<int64_t>({d, q_width, ffn});
  act_.mm_ws = cuda::DeviceBuffer(cuda::matmul_workspace(n, WeightView{nullptr, DType::BF16, 1, widest}));
  act_.rows = n;
}

// Row s of the device tables is seqs[s]'s block table, padded with -1 (never read: a row's
// table covers every position it attends to).
void CudaEngine::upload_tables(Sequence* const* seqs, int64_t count, Pass& pass) {
  int64_t stride = 1;
  for (int64_t s = 0; s < count; ++s) stride = std::max(stride, seqs[s]->blocks());
  std::vector<int32_t>& tables = host_.tables;
  tables.assign(size_t(count * stride), -1);
  for (int64_t s = 0; s < count; ++s)
    std::copy(seqs[s]->table().begin(), seqs[s]->table().end(), tables.begin() + s * stride);
  ensure_bytes(act_.tables, tables.size() * sizeof(int32_t));
  act_.tables.upload(tables.data(), tables.size() * sizeof(int32_t));
  pass.table_stride = int32_t(stride);
}

cuda::PagedKv CudaEngine::slot_kv(int32_t slot, const Pass& pass) const {
  const int64_t kv_width = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  const size_t offset = size_t(slot) * size_t(pool_rows_ * kv_width) * dtype_size(opts_.kv_dtype);
  return cuda::PagedKv{kv_k_.as<uint8_t>() + offset, kv_v_.as<uint8_t>() + offset, opts_.kv_dtype, kv_width,
                       act_.tables.as<int32_t>(), pass.table_stride, KvPool::kBlockTokens};
}

void CudaEngine::check_cancel() const {
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Error("ABORTED", "the request was aborted");
}

void CudaEngine::matmul(cuda::DeviceBuffer& y, const float* x, int64_t n, const WeightView& w) {
  cuda::matmul(y.as<float>(), x, n, w, act_.mm_ws.data(), act_.mm_ws.bytes(), kStream);
}

void CudaEngine::run_layer(const Pass& pass, int32_t layer) {
  const LayerWeights& lw = w_.layers[size_t(layer)];
  const LayerRole& role = plan_.role(layer);
  const int64_t n = pass.n, d = cfg_.hidden_size;
  float* x = act_.x.as<float>() + pass.first * d;
  float* xb = act_.xb.as<float>();
  const double* inv_freq = inv_freq_.as<double>();

  cuda::rmsnorm(xb, x, lw.attn_norm.data, lw.attn_norm.dtype, n, d, cfg_.rms_norm_eps, kStream);
  matmul(act_.q, xb, n, lw.wq);
  cuda::rope_apply(act_.q.as<float>(), n, cfg_.n_heads, cfg_.head_dim, pass.rows, inv_freq, kStream);
  if (role.computes_kv) {
    matmul(act_.k, xb, n, lw.wk);
    matmul(act_.v, xb, n, lw.wv);
    cuda::rope_apply(act_.k.as<float>(), n, cfg_.n_kv_heads, cfg_.head_dim, pass.rows, inv_freq, kStream);
    cuda::kv_append(slot_kv(role.kv_slot, pass), act_.k.as<float>(), act_.v.as<float>(), n, pass.rows, kStream);
  }
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  const AttentionMask mask{role.no_diag, role.sliding ? cfg_.sliding_window : 0};
  const cuda::PagedKv kv = slot_kv(plan_.role(role.target).kv_slot, pass);
  if (pass.rows.positions)
    cuda::paged_decode_attention(act_.att.as<float>(), act_.q.as<float>(), n, pass.rows.positions, pass.max_position,
                                 kv, shape, mask, act_.attn_ws.data(), act_.attn_ws.bytes(), kStream);
  else
    cuda::prefill_attention(act_.att.as<float>(), act_.q.as<float>(), n, pass.rows.pos0, kv, shape, mask, kStream);
  matmul(act_.proj, act_.att.as<float>(), n, lw.wo);
  cuda::add_inplace(x, act_.proj.as<float>(), n * d, kStream);

  cuda::rmsnorm(xb, x, lw.ffn_norm.data, lw.ffn_norm.dtype, n, d, cfg_.rms_norm_eps, kStream);
  matmul(act_.gate, xb, n, lw.w_gate);
  matmul(act_.up, xb, n, lw.w_up);
  cuda::silu_mul(act_.gate.as<float>(), act_.up.as<float>(), n * cfg_.intermediate_size, kStream);
  matmul(act_.proj, act_.gate.as<float>(), n, lw.w_down);
  cuda::add_inplace(x, act_.proj.as<float>(), n * d, kStream);
}

void CudaEngine::run_layers(const Pass& pass, int32_t begin, int32_t end) {
  for (int32_t layer = begin; layer < end; ++layer) {
    check_cancel();
    run_layer(pass, layer);
  }
}

// The paper's prefill, as in the CPU engine: a cyclic group starts from zero K/V for the
// new positions and runs `passes` times from the same input, each pass reading what the
// previous one wrote. Pass k recomputes rows k.. only: the rows before are exact already
// (Engine::prefill_iterative says why).
void CudaEngine::prefill_iterative(const Pass& pass, int32_t passes) {
  const int64_t d = cfg_.hidden_size;
  for (const PlanStep& step : plan_.steps()) {
    if (!step.cyclic) {
      run_layers(pass, step.begin, step.end);
      continue;
    }
    for (int32_t layer = step.begin; layer < step.end; ++layer)
      if (plan_.role(layer).computes_kv) cuda::kv_zero(slot_kv(plan_.role(layer).kv_slot, pass), pass.rows.pos0, pass.n, kStream);
    cuda::copy_on_device(act_.x_in.data(), act_.x.data(), size_t(pass.n * d) * sizeof(float), kStream);
    for (int32_t k = 0; k < passes; ++k) {
      Pass open = pass;  // the rows not exact yet
      open.first = k, open.n = pass.n - k, open.rows = cuda::RowPositions{pass.rows.pos0 + k, nullptr};
      if (k > 0)
        cuda::copy_on_device(act_.x.as<float>() + k * d, act_.x_in.as<float>() + k * d,
                             size_t(open.n * d) * sizeof(float), kStream);
      run_layers(open, step.begin, step.end);
    }
  }
}

// Final norm and lm_head of `rows` hidden states (device), downloaded as [rows, vocab].
void CudaEngine::logits(const float* hidden, int64_t rows, float* out) {
  const int64_t d = cfg_.hidden_size, vocab = cfg_.vocab_size;
  cuda::rmsnorm(act_.xb.as<float>(), hidden, w_.final_norm.data, w_.final_norm.dtype, rows, d, cfg_.rms_norm_eps,
                kStream);
  ensure_bytes(act_.logits, size_t(rows * vocab) * sizeof(float));
  matmul(act_.logits, act_.xb.as<float>(), rows, w_.lm_head);
  act_.logits.download(out, size_t(rows * vocab) * sizeof(float));
}

void CudaEngine::run_into(Sequence& seq, const RunRequest& req, float* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancel_ = req.cancel;
  const int64_t n = req.n, d = cfg_.hidden_size;
  const int64_t pos0 = begin_run(cfg_, seq, req.tokens, n);
  const PrefillMode mode = plan_.resolve(req.mode, int32_t(n), cfg_);
  ensure_rows(n);
  act_.tokens.upload(req.tokens, size_t(n) * sizeof(int32_t));
  Sequence* const one = &seq;
  Pass pass;
  upload_tables(&one, 1, pass);
  const float* hidden = act_.x.as<float>();
  if (mode == PrefillMode::Sequential) {
    // Token by token through the whole stack; each position's final hidden state is
    // collected in x_in (unused in this mode) for the logits.
    pass.n = 1;
    for (int64_t i = 0; i < n; ++i) {
      pass.rows = cuda::RowPositions{pos0 + i, nullptr};
      pass.max_position = pos0 + i;
      cuda::embedding_gather(act_.x.as<float>(), act_.tokens.as<int32_t>() + i, 1, w_.embed, kStream);
      run_layers(pass, 0, cfg_.n_layers);
      cuda::copy_on_device(act_.x_in.as<float>() + i * d, act_.x.data(), size_t(d) * sizeof(float), kStream);
    }
    hidden = act_.x_in.as<float>();
  } else {
    pass.n = n;
    pass.rows = cuda::RowPositions{pos0, nullptr};
    pass.max_position = pos0 + n - 1;
    cuda::embedding_gather(act_.x.as<float>(), act_.tokens.as<int32_t>(), n, w_.embed, kStream);
    const int32_t passes = req.passes > 0 ? req.passes : std::max(1, cfg_.forward_passes + cfg_.backward_passes);
    // Pass k makes positions < k exact, so passes beyond n recompute identical values.
    prefill_iterative(pass, int32_t(std::min<int64_t>(passes, n)));
  }
  end_pass(cfg_, plan_, seq, pos0 + n);
  const int64_t rows = run_logit_rows(req);
  logits(hidden + (n - rows) * d, rows, out);
}

void CudaEngine::decode_into(Sequence* const* seqs, const int32_t* tokens, int64_t n, const uint8_t* want_logits,
                             float* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancel_ = nullptr;  // a batch step is short; an aborted row is dropped after it
  std::vector<int64_t>& positions = host_.positions;
  positions.resize(static_cast<size_t>(n));
  begin_decode(cfg_, seqs, tokens, n, positions.data());
  ensure_rows(n);
  act_.tokens.upload(tokens, size_t(n) * sizeof(int32_t));
  act_.positions.upload(positions.data(), size_t(n) * sizeof(int64_t));
  Pass pass;
  pass.n = n;
  pass.rows = cuda::RowPositions{0, act_.positions.as<int64_t>()};
  pass.max_position = *std::max_element(positions.begin(), positions.end());
  upload_tables(seqs, n, pass);
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim};
  size_t workspace = 0;
  for (int32_t layer = 0; layer < cfg_.n_layers; ++layer) {
    const LayerRole& role = plan_.role(layer);
    const AttentionMask mask{role.no_diag, role.sliding ? cfg_.sliding_window : 0};
    workspace = std::max(workspace, cuda::paged_decode_attention_workspace(n, shape, mask, pass.max_position));
  }
  ensure_bytes(act_.attn_ws, workspace);

  cuda::embedding_gather(act_.x.as<float>(), act_.tokens.as<int32_t>(), n, w_.embed, kStream);
  run_layers(pass, 0, cfg_.n_layers);
  for (int64_t i = 0; i < n; ++i) end_pass(cfg_, plan_, *seqs[i], positions[size_t(i)] + 1);
  if (!want_logits) return logits(act_.x.as<float>(), n, out);
  std::vector<int32_t>& wanted = host_.wanted;
  wanted.clear();
  for (int64_t i = 0; i < n; ++i)
    if (want_logits[i]) wanted.push_back(int32_t(i));
  if (wanted.empty()) {
    cuda::device_synchronize();  // report a failed launch with this step, not the next
    return;
  }
  act_.wanted.upload(wanted.data(), wanted.size() * sizeof(int32_t));
  // The wanted rows of x, gathered like rows of an f32 embedding table [n, d].
  const WeightView hidden{act_.x.data(), DType::F32, n, cfg_.hidden_size};
  cuda::embedding_gather(act_.proj.as<float>(), act_.wanted.as<int32_t>(), int64_t(wanted.size()), hidden, kStream);
  logits(act_.proj.as<float>(), int64_t(wanted.size()), out);
}

}  // namespace lckv
