// N-API glue: NativeModel (owns the Engine and its KV pool), NativeSequence (one sequence's
// block table) and decodeBatch (one token for each of many sequences in one forward pass).
// Heavy work runs in AsyncWorkers on libuv's pool, never on the JavaScript thread.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <memory>

#include "addon/convert.h"
#include "addon/probe.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "kernels/cpu/isa.h"
#ifdef LCKV_WITH_CUDA
#include "engine/cuda_engine.h"
#include "kernels/cuda/device.h"
#endif

namespace lckv {

namespace {

Napi::Object plan_to_js(Napi::Env env, const LayerPlan& plan) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array layers = Napi::Array::New(env);
  for (int32_t i = 0; i < plan.n_layers(); ++i) {
    const LayerRole& r = plan.role(i);
    Napi::Object l = Napi::Object::New(env);
    l.Set("target", r.target);
    l.Set("sliding", r.sliding);
    l.Set("attendsTop", r.attends_top);
    l.Set("maskDiagonal", r.no_diag);
    l.Set("computesKv", r.computes_kv);
    layers.Set(uint32_t(i), l);
  }
  Napi::Array cached = Napi::Array::New(env);
  for (size_t i = 0; i < plan.cached_layers().size(); ++i) cached.Set(uint32_t(i), plan.cached_layers()[i]);
  Napi::Array steps = Napi::Array::New(env);
  for (size_t i = 0; i < plan.steps().size(); ++i) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("begin", plan.steps()[i].begin);
    s.Set("end", plan.steps()[i].end);
    s.Set("cyclic", plan.steps()[i].cyclic);
    steps.Set(uint32_t(i), s);
  }
  out.Set("layers", layers);
  out.Set("cachedLayers", cached);
  out.Set("steps", steps);
  return out;
}

// The engine of `device` ('cpu' when undefined; lib/native.ts chose the addon that has it).
std::shared_ptr<ModelEngine> make_engine(Napi::Value device, const ModelConfig& cfg, std::unique_ptr<WeightStore> store,
                                         const EngineOptions& opts) {
  const std::string name = device.IsUndefined() ? "cpu" : device.ToString().Utf8Value();
  if (name == "cpu") return std::make_shared<Engine>(cfg, std::move(store), opts);
  if (name != "cuda") throw Error("INVALID_ARGUMENT", "device must be 'cpu' or 'cuda', got '" + name + "'");
#ifdef LCKV_WITH_CUDA
  return std::make_shared<CudaEngine>(cfg, std::move(store), opts);
#else
  throw Error("DEVICE_UNAVAILABLE", "this lckv addon was built without CUDA; build the CUDA addon with `npm run build:cuda`");
#endif
}

// cudaDevice() => { name, computeCapability, memoryBytes } of the device a CUDA engine would
// use, or null when this addon has no CUDA or the machine has no usable device.
Napi::Value CudaDevice(const Napi::CallbackInfo& info) {
#ifdef LCKV_WITH_CUDA
  if (cuda::device_available()) {
    return guard(info.Env(), [&] {
      const cuda::DeviceInfo d = cuda::device_info();
      Napi::Object out = Napi::Object::New(info.Env());
      out.Set("name", d.name);
      out.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
      out.Set("memoryBytes", double(d.total_bytes));
      return out;
    });
  }
#endif
  return info.Env().Null();
}

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("plan", &NativeModel::Plan), InstanceMethod("dispose", &NativeModel::Dispose),
                        InstanceMethod("parameterCount", &NativeModel::ParameterCount),
                        InstanceMethod("kvStats", &NativeModel::KvStats),
                        InstanceMethod("resolvePrefill", &NativeModel::ResolvePrefill)});
  }

  // new NativeModel(config, files, tensors, { device, threads, kvDtype, kvBytes, kvTokens } (0: default budget))
  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    guard(info.Env(), [&] {
      if (info.Length() < 4 || !info[0].IsObject() || !info[3].IsObject())
        throw Error("INVALID_ARGUMENT", "NativeModel(config, files, tensors, options)");
      const ModelConfig cfg = config_from_js(info[0].As<Napi::Object>());
      auto store = std::make_unique<WeightStore>(strings_from_js(info[1]), tensors_from_js(info[2]));
      Napi::Object opts = info[3].As<Napi::Object>();
      EngineOptions eo;
      eo.threads = opts.Get("threads").As<Napi::Number>().Int32Value();
      const std::string kv = opts.Get("kvDtype").ToString().Utf8Value();
      eo.kv_dtype = kv == "f32" ? DType::F32 : kv == "bf16" ? DType::BF16 : DType::F16;
      eo.kv_bytes = opts.Get("kvBytes").As<Napi::Number>().Int64Value();
      eo.kv_tokens = opts.Get("kvTokens").As<Napi::Number>().Int64Value();
      engine_ = make_engine(opts.Get("device"), cfg, std::move(store), eo);
      pool_ = engine_->kv_pool();
      return 0;
    });
  }

  std::shared_ptr<ModelEngine> engine(Napi::Env env) const {
    if (!engine_) throw to_js_error(env, "DISPOSED", "the model has been disposed");
    return engine_;
  }

 private:
  Napi::Value Plan(const Napi::CallbackInfo& info) { return plan_to_js(info.Env(), engine(info.Env())->plan()); }
  Napi::Value ParameterCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(engine(info.Env())->parameter_count()));
  }
  // resolvePrefill(mode: 0 auto | 1 iterative | 2 sequential, tokens) => the mode a run of that
  // many tokens uses (the layer plan decides; 'auto' follows the reference).
  Napi::Value ResolvePrefill(const Napi::CallbackInfo& info) {
    const std::shared_ptr<ModelEngine> e = engine(info.Env());
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      throw to_js_error(info.Env(), "INVALID_ARGUMENT", "resolvePrefill(mode, tokens)");
    const int32_t mode = info[0].As<Napi::Number>().Int32Value();
    if (mode < 0 || mode > 2) throw to_js_error(info.Env(), "INVALID_ARGUMENT", "prefill mode must be 0, 1 or 2");
    const PrefillMode resolved = e->plan().resolve(PrefillMode(mode), info[1].As<Napi::Number>().Int32Value(), e->config());
    return Napi::Number::New(info.Env(), int32_t(resolved));
  }
  // { blocksUsed, blocksTotal, blockTokens, bytesTotal }; still answers after dispose.
  Napi::Value KvStats(const Napi::CallbackInfo& info) {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("blocksUsed", double(pool_->blocks_used()));
    out.Set("blocksTotal", double(pool_->blocks_total()));
    out.Set("blockTokens", KvPool::kBlockTokens);
    out.Set("bytesTotal", double(pool_->bytes_total()));
    return out;
  }
  // Sequences keep the engine alive until their own work is done; memory goes with the last.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    engine_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<ModelEngine> engine_;
  std::shared_ptr<KvPool> pool_;
};

// An AsyncWorker whose work writes a typed array (logits, or scores): resolves a promise
// with it, or rejects with the engine's error code. The array is made (or reused) on the
// JavaScript thread and written on the worker thread: no copy, and no allocation per step
// when the caller reuses its buffer. The reference keeps it alive, and nothing in
// JavaScript reads it before the promise settles. The sequences' busy flags are set for as
// long as it runs.
template <typename T>
class ArrayWorker : public Napi::AsyncWorker {
 public:
  ArrayWorker(Napi::Env env, std::vector<std::shared_ptr<bool>> busy, Napi::TypedArrayOf<T> out)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        busy_(std::move(busy)),
        out_(Napi::Persistent(out)),
        data_(out.Data()) {
    for (auto& b : busy_) *b = true;
  }

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      compute(data_);
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "OUT_OF_MEMORY";
      SetError("out of memory");
    }
  }

  void OnOK() override {
    for (auto& b : busy_) *b = false;
    deferred_.Resolve(out_.Value());
  }

  void OnError(const Napi::Error& err) override {
    for (auto& b : busy_) *b = false;
    deferred_.Reject(to_js_error(Env(), code_, err.Message()).Value());
  }

 protected:
  virtual void compute(T* out) = 0;  // runs on a libuv worker thread

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::shared_ptr<bool>> busy_;
  Napi::Reference<Napi::TypedArrayOf<T>> out_;
  T* data_;
  std::string code_ = "INTERNAL";
};

using LogitsWorker = ArrayWorker<float>;

// `rows` x vocab floats for a worker's logits: a view of `reuse` when it is large enough, else new.
Napi::Float32Array logits_array(Napi::Env env, const ModelEngine& engine, int64_t rows, Napi::Value reuse) {
  const size_t n = size_t(rows * engine.config().vocab_size);
  if (reuse.IsTypedArray()) {
    auto buf = reuse.As<Napi::Float32Array>();
    if (buf.ElementLength() >= n) return Napi::Float32Array::New(env, n, buf.ArrayBuffer(), buf.ByteOffset());
  }
  return Napi::Float32Array::New(env, n);
}

// What one sequence's run holds while it is queued and running.
struct SequenceRun {
  std::shared_ptr<ModelEngine> engine;
  std::shared_ptr<Sequence> seq;
  std::vector<int32_t> tokens;
  RunRequest req;
  std::shared_ptr<std::atomic<bool>> cancel;  // kept alive while the request runs

  void into(float* logits) {
    req.tokens = tokens.data();
    engine->run_into(*seq, req, logits);
  }
};

// One sequence's prefill or decode step.
class RunWorker : public LogitsWorker {
 public:
  RunWorker(Napi::Env env, SequenceRun run, std::shared_ptr<bool> busy)
      : LogitsWorker(env, {std::move(busy)}, logits_array(env, *run.engine, ModelEngine::run_logit_rows(run.req), env.Undefined())),
        run_(std::move(run)) {}

 protected:
  void compute(float* logits) override { run_.into(logits); }

 private:
  SequenceRun run_;
};

// A scoring prefill that returns, instead of the [n, vocab] logits, each position's negative
// log-likelihood of its target (NaN where the target is -1), in double precision: the
// reduction runs here rather than on the JavaScript thread, where a 2k-token window of a 32k
// vocabulary took seconds, and only n numbers cross over.
class ScoreWorker : public ArrayWorker<double> {
 public:
  ScoreWorker(Napi::Env env, SequenceRun run, std::vector<int32_t> targets, std::shared_ptr<bool> busy)
      : ArrayWorker<double>(env, {std::move(busy)}, Napi::Float64Array::New(env, run.tokens.size())),
        run_(std::move(run)),
        targets_(std::move(targets)) {}

 protected:
  void compute(double* nll) override {
    const int64_t vocab = run_.engine->config().vocab_size, n = run_.req.n;
    LargeVector<float> logits(size_t(n * vocab));
    run_.into(logits.data());
    for (int64_t i = 0; i < n; ++i)
      nll[i] = targets_[size_t(i)] < 0 ? std::nan("") : negative_log_likelihood(logits.data() + i * vocab, vocab, targets_[size_t(i)]);
  }

 private:
  // log(sum_j exp(row[j] - max)) + max - row[target], summed in double.
  static double negative_log_likelihood(const float* row, int64_t vocab, int32_t target) {
    float max = row[0];
    for (int64_t j = 1; j < vocab; ++j) max = row[j] > max ? row[j] : max;
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j) sum += std::exp(double(row[j]) - double(max));
    return std::log(sum) + double(max) - double(row[target]);
  }

  SequenceRun run_;
  std::vector<int32_t> targets_;
};

class NativeSequence : public Napi::ObjectWrap<NativeSequence> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSequence",
                       {InstanceMethod("run", &NativeSequence::Run), InstanceMethod("score", &NativeSequence::Score),
                        InstanceMethod("release", &NativeSequence::Release),
                        InstanceMethod("cancel", &NativeSequence::Cancel), InstanceMethod("reset", &NativeSequence::Reset),
                        InstanceMethod("reserve", &NativeSequence::Reserve),
                        InstanceAccessor<&NativeSequence::Length>("length"),
                        InstanceAccessor<&NativeSequence::Blocks>("blocks")});
  }

  // For decodeBatch: the sequence, checked to be usable now.
  std::shared_ptr<Sequence> sequence(Napi::Env env) const {
    if (!seq_) throw to_js_error(env, "DISPOSED", "this sequence has been released");
    if (*busy_) throw to_js_error(env, "BUSY", "this sequence is already running");
    return seq_;
  }
  const std::shared_ptr<ModelEngine>& engine() const { return engine_; }
  const std::shared_ptr<bool>& busy() const { return busy_; }

  // new NativeSequence(nativeModel)
  explicit NativeSequence(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSequence>(info) {
    if (info.Length() < 1 || !info[0].IsObject()) throw to_js_error(info.Env(), "INVALID_ARGUMENT", "NativeSequence(model)");
    engine_ = NativeModel::Unwrap(info[0].As<Napi::Object>())->engine(info.Env());
    seq_ = guard(info.Env(), [&] { return std::shared_ptr<Sequence>(engine_->new_sequence()); });
  }

 private:
  // A run of the tokens (info[0], an Int32Array) with the prefill settings (info[1] mode,
  // info[2] passes), checked for a usable sequence; arms the cancel flag.
  SequenceRun run_request(const Napi::CallbackInfo& info, bool all_logits) {
    Napi::Env env = info.Env();
    if (!seq_) throw to_js_error(env, "DISPOSED", "this sequence has been released");
    if (*busy_) throw to_js_error(env, "BUSY", "this sequence is already running");
    Napi::Int32Array arr = info[0].As<Napi::Int32Array>();
    SequenceRun run{engine_, seq_, std::vector<int32_t>(arr.Data(), arr.Data() + arr.ElementLength()), RunRequest{}, cancel_};
    const int32_t mode = info[1].As<Napi::Number>().Int32Value();
    run.req.mode = mode == 1 ? PrefillMode::Iterative : mode == 2 ? PrefillMode::Sequential : PrefillMode::Auto;
    run.req.passes = info[2].As<Napi::Number>().Int32Value();
    run.req.all_logits = all_logits;
    run.req.n = int64_t(run.tokens.size());  // sizes the output; the run points req.tokens at its own copy
    run.req.cancel = cancel_.get();
    cancel_->store(false);
    return run;
  }

  // run(tokens: Int32Array, mode: 0 auto | 1 iterative | 2 sequential, passes, allLogits) => Promise<Float32Array>
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw to_js_error(env, "INVALID_ARGUMENT", "run(tokens: Int32Array, mode, passes, allLogits)");
    auto* worker = new RunWorker(env, run_request(info, info[3].ToBoolean().Value()), busy_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // score(tokens: Int32Array, mode, passes, targets: Int32Array [tokens.length], each a
  // token id or -1) => Promise<Float64Array>: a scoring prefill's negative log-likelihood of
  // each position's target (NaN for -1).
  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto is_int32 = [&](size_t i) {
      return info.Length() > i && info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
    };
    if (!is_int32(0) || !is_int32(3) || info[3].As<Napi::Int32Array>().ElementLength() != info[0].As<Napi::Int32Array>().ElementLength())
      throw to_js_error(env, "INVALID_ARGUMENT", "score(tokens: Int32Array, mode, passes, targets: Int32Array of the same length)");
    if (!seq_) throw to_js_error(env, "DISPOSED", "this sequence has been released");
    Napi::Int32Array t = info[3].As<Napi::Int32Array>();
    std::vector<int32_t> targets(t.Data(), t.Data() + t.ElementLength());
    for (int32_t id : targets)
      if (id < -1 || id >= engine_->config().vocab_size)
        throw to_js_error(env, "TOKEN_OUT_OF_RANGE", "a score target is not a token id of this model (or -1)");
    auto* worker = new ScoreWorker(env, run_request(info, true), std::move(targets), busy_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), seq_ ? double(seq_->length()) : 0.0);
  }

  Napi::Value Blocks(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), seq_ ? double(seq_->blocks()) : 0.0);
  }

  // Frees the sequence's blocks (preemption); it can be filled again from position 0.
  Napi::Value Reset(const Napi::CallbackInfo& info) {
    if (*busy_) throw to_js_error(info.Env(), "BUSY", "this sequence is already running");
    if (seq_) seq_->clear();
    return info.Env().Undefined();
  }

  // reserve(positions): takes the KV blocks for positions [0, positions) now, or throws
  // KV_BUDGET_EXCEEDED taking none, so a scheduler can count them before they are written.
  Napi::Value Reserve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw to_js_error(env, "INVALID_ARGUMENT", "reserve(positions)");
    if (!seq_) throw to_js_error(env, "DISPOSED", "this sequence has been released");
    if (*busy_) throw to_js_error(env, "BUSY", "this sequence is already running");
    const int64_t positions = info[0].As<Napi::Number>().Int64Value();
    guard(env, [&] {
      seq_->reserve(positions);
      return 0;
    });
    return env.Undefined();
  }

  // Stops the running request at its next layer; it rejects with ABORTED.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    return info.Env().Undefined();
  }

  // Frees the K/V now instead of at garbage collection, and lets go of the engine: after the
  // model's dispose(), the last released sequence frees its threads and memory (a running
  // worker keeps its own references).
  Napi::Value Release(const Napi::CallbackInfo& info) {
    seq_.reset();
    engine_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<ModelEngine> engine_;
  std::shared_ptr<Sequence> seq_;
  std::shared_ptr<bool> busy_ = std::make_shared<bool>(false);
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

// One decode step for many sequences: one forward pass with a row per sequence.
class DecodeWorker : public LogitsWorker {
 public:
  DecodeWorker(Napi::Env env, std::shared_ptr<ModelEngine> engine, std::vector<std::shared_ptr<Sequence>> seqs,
               std::vector<std::shared_ptr<bool>> busy, std::vector<int32_t> tokens, std::vector<uint8_t> want,
               Napi::Float32Array out)
      : LogitsWorker(env, std::move(busy), out),
        engine_(std::move(engine)),
        seqs_(std::move(seqs)),
        tokens_(std::move(tokens)),
        want_(std::move(want)) {
    for (auto& s : seqs_) rows_.push_back(s.get());
  }

 protected:
  void compute(float* logits) override {
    engine_->decode_into(rows_.data(), tokens_.data(), int64_t(rows_.size()), want_.empty() ? nullptr : want_.data(),
                         logits);
  }

 private:
  std::shared_ptr<ModelEngine> engine_;
  std::vector<std::shared_ptr<Sequence>> seqs_;  // [rows] kept alive while the step runs
  std::vector<Sequence*> rows_;                  // [rows] the same, as the engine takes them
  std::vector<int32_t> tokens_;                  // [rows]
  std::vector<uint8_t> want_;                    // [rows] rows whose logits are returned; empty: all
};

// decodeBatch(sequences: NativeSequence[], tokens: Int32Array, wantLogits?: Uint8Array, reuse?: Float32Array)
//   => Promise<Float32Array [rows wanted (all when omitted), vocab]>: a view of `reuse` when
//   it holds that many floats, else a new array. `reuse` is written while the step runs: the
//   caller must be done with what it held and leave it alone until the promise settles.
Napi::Value DecodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch(sequences: NativeSequence[], tokens: Int32Array)");
  Napi::Array list = info[0].As<Napi::Array>();
  Napi::Int32Array tokens = info[1].As<Napi::Int32Array>();
  if (list.Length() == 0 || list.Length() != tokens.ElementLength())
    throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch needs one token per sequence, at least one");
  std::vector<uint8_t> want;
  if (info.Length() >= 3 && !info[2].IsUndefined()) {
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[2].As<Napi::Uint8Array>().ElementLength() != tokens.ElementLength())
      throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch: wantLogits must be a Uint8Array with one flag per sequence");
    Napi::Uint8Array flags = info[2].As<Napi::Uint8Array>();
    want.assign(flags.Data(), flags.Data() + flags.ElementLength());
  }
  const Napi::Value reuse = info.Length() >= 4 ? info[3] : env.Undefined();
  if (!reuse.IsUndefined() &&
      (!reuse.IsTypedArray() || reuse.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array))
    throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch: reuse must be a Float32Array");
  std::shared_ptr<ModelEngine> engine;
  std::vector<std::shared_ptr<Sequence>> seqs;
  std::vector<std::shared_ptr<bool>> busy;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    if (!v.IsObject()) throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch: not a NativeSequence");
    NativeSequence* s = NativeSequence::Unwrap(v.As<Napi::Object>());
    seqs.push_back(s->sequence(env));  // first: a released sequence has no engine either
    if (engine && s->engine() != engine)
      throw to_js_error(env, "INVALID_ARGUMENT", "decodeBatch: the sequences belong to different models");
    engine = s->engine();
    for (auto& b : busy)
      if (b == s->busy()) throw to_js_error(env, "INVALID_ARGUMENT", "a sequence appears twice in one batch");
    busy.push_back(s->busy());
  }
  const int64_t rows = ModelEngine::decode_logit_rows(want.empty() ? nullptr : want.data(), int64_t(seqs.size()));
  Napi::Float32Array out = logits_array(env, *engine, rows, reuse);
  auto* worker = new DecodeWorker(env, engine, std::move(seqs), std::move(busy),
                                  std::vector<int32_t>(tokens.Data(), tokens.Data() + tokens.ElementLength()),
                                  std::move(want), out);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// sampleToken(logits: Float32Array [vocab], settings: Float64Array [temperature, topK, topP,
//   minP, repetitionPenalty], seen: Int32Array (distinct token ids), rng: Uint32Array [1],
//   advanced in place) => token id. Synchronous: one row costs microseconds.
Napi::Value SampleToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto typed = [&](size_t i, napi_typedarray_type type) {
    return info.Length() > i && info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == type;
  };
  if (!typed(0, napi_float32_array) || !typed(1, napi_float64_array) || !typed(2, napi_int32_array) || !typed(3, napi_uint32_array) ||
      info[0].As<Napi::Float32Array>().ElementLength() == 0 || info[1].As<Napi::Float64Array>().ElementLength() != 5 ||
      info[3].As<Napi::Uint32Array>().ElementLength() != 1)
    throw to_js_error(env, "INVALID_ARGUMENT",
                      "sampleToken(logits: Float32Array, settings: Float64Array(5), seen: Int32Array, rng: Uint32Array(1))");
  Napi::Float32Array logits = info[0].As<Napi::Float32Array>();
  const double* s = info[1].As<Napi::Float64Array>().Data();
  Napi::Int32Array seen = info[2].As<Napi::Int32Array>();
  const int64_t vocab = int64_t(logits.ElementLength());
  for (size_t i = 0; i < seen.ElementLength(); ++i)
    if (seen[i] < 0 || seen[i] >= vocab) throw to_js_error(env, "TOKEN_OUT_OF_RANGE", "sampleToken: a seen id is not a token id");
  SamplingParams params;
  params.temperature = s[0], params.top_k = int64_t(s[1]), params.top_p = s[2], params.min_p = s[3], params.repetition_penalty = s[4];
  thread_local Sampler sampler;  // scratch reused row after row (one per thread: Node workers have their own)
  const int32_t token = sampler.sample(logits.Data(), vocab, params, seen.Data(), int64_t(seen.ElementLength()),
                                       info[3].As<Napi::Uint32Array>().Data());
  return Napi::Number::New(env, token);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", NativeModel::Define(env));
  exports.Set("NativeSequence", NativeSequence::Define(env));
  exports.Set("decodeBatch", Napi::Function::New(env, DecodeBatch, "decodeBatch"));
  exports.Set("sampleToken", Napi::Function::New(env, SampleToken, "sampleToken"));
  exports.Set("isa", Napi::String::New(env, isa_name(isa_active())));
  exports.Set("cudaDevice", Napi::Function::New(env, CudaDevice, "cudaDevice"));
  exports.Set("probeHardware", Napi::Function::New(env, ProbeHardware, "probeHardware"));
  return exports;
}

}  // namespace

}  // namespace lckv

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return lckv::Init(env, exports); }

NODE_API_MODULE(lckv, InitAddon)
