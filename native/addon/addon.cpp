// N-API glue: NativeModel (owns the Engine) and NativeSequence (owns one sequence's K/V).
// Heavy work runs in AsyncWorkers on libuv's pool, never on the JavaScript thread.
#include <napi.h>

#include <atomic>
#include <memory>

#include "addon/convert.h"
#include "engine/engine.h"
#include "kernels/cpu/isa.h"

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

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("plan", &NativeModel::Plan), InstanceMethod("dispose", &NativeModel::Dispose),
                        InstanceMethod("parameterCount", &NativeModel::ParameterCount)});
  }

  // new NativeModel(config, files, tensors, { threads, kvDtype })
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
      engine_ = std::make_shared<Engine>(cfg, std::move(store), eo);
      return 0;
    });
  }

  std::shared_ptr<Engine> engine(Napi::Env env) const {
    if (!engine_) throw to_js_error(env, "DISPOSED", "the model has been disposed");
    return engine_;
  }

 private:
  Napi::Value Plan(const Napi::CallbackInfo& info) { return plan_to_js(info.Env(), engine(info.Env())->plan()); }
  Napi::Value ParameterCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(engine(info.Env())->parameter_count()));
  }
  // Sequences keep the engine alive until their own work is done; memory goes with the last.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    engine_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Engine> engine_;
};

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<Engine> engine, std::shared_ptr<SequenceKv> seq, std::vector<int32_t> tokens,
            RunRequest req, std::shared_ptr<bool> busy, std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(engine)),
        seq_(std::move(seq)),
        tokens_(std::move(tokens)),
        req_(req),
        busy_(std::move(busy)),
        cancel_(std::move(cancel)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      req_.tokens = tokens_.data();
      req_.n = int64_t(tokens_.size());
      logits_ = engine_->run(*seq_, req_);
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "OUT_OF_MEMORY";
      SetError("out of memory");
    }
  }

  void OnOK() override {
    *busy_ = false;
    Napi::Float32Array out = Napi::Float32Array::New(Env(), logits_.size());
    std::copy(logits_.begin(), logits_.end(), out.Data());
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& err) override {
    *busy_ = false;
    deferred_.Reject(to_js_error(Env(), code_, err.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<SequenceKv> seq_;
  std::vector<int32_t> tokens_;
  RunRequest req_;
  std::shared_ptr<bool> busy_;
  std::shared_ptr<std::atomic<bool>> cancel_;  // kept alive while the request runs
  std::vector<float> logits_;
  std::string code_ = "INTERNAL";
};

class NativeSequence : public Napi::ObjectWrap<NativeSequence> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSequence",
                       {InstanceMethod("run", &NativeSequence::Run), InstanceMethod("release", &NativeSequence::Release),
                        InstanceMethod("cancel", &NativeSequence::Cancel),
                        InstanceAccessor<&NativeSequence::Length>("length")});
  }

  // new NativeSequence(nativeModel)
  explicit NativeSequence(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSequence>(info) {
    if (info.Length() < 1 || !info[0].IsObject()) throw to_js_error(info.Env(), "INVALID_ARGUMENT", "NativeSequence(model)");
    engine_ = NativeModel::Unwrap(info[0].As<Napi::Object>())->engine(info.Env());
    seq_ = guard(info.Env(), [&] { return std::shared_ptr<SequenceKv>(engine_->new_sequence()); });
  }

 private:
  // run(tokens: Int32Array, mode: 0 auto | 1 iterative | 2 sequential, passes, allLogits) => Promise<Float32Array>
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw to_js_error(env, "INVALID_ARGUMENT", "run(tokens: Int32Array, mode, passes, allLogits)");
    if (!seq_) throw to_js_error(env, "DISPOSED", "this sequence has been released");
    if (*busy_) throw to_js_error(env, "BUSY", "this sequence is already running");
    Napi::Int32Array arr = info[0].As<Napi::Int32Array>();
    std::vector<int32_t> tokens(arr.Data(), arr.Data() + arr.ElementLength());
    RunRequest req;
    const int32_t mode = info[1].As<Napi::Number>().Int32Value();
    req.mode = mode == 1 ? PrefillMode::Iterative : mode == 2 ? PrefillMode::Sequential : PrefillMode::Auto;
    req.passes = info[2].As<Napi::Number>().Int32Value();
    req.all_logits = info[3].ToBoolean().Value();
    req.cancel = cancel_.get();
    cancel_->store(false);
    *busy_ = true;
    auto* worker = new RunWorker(env, engine_, seq_, std::move(tokens), req, busy_, cancel_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), seq_ ? double(seq_->length()) : 0.0);
  }

  // Stops the running request at its next layer; it rejects with ABORTED.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    return info.Env().Undefined();
  }

  // Frees the K/V now instead of at garbage collection (a running worker keeps its own reference).
  Napi::Value Release(const Napi::CallbackInfo& info) {
    seq_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Engine> engine_;
  std::shared_ptr<SequenceKv> seq_;
  std::shared_ptr<bool> busy_ = std::make_shared<bool>(false);
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", NativeModel::Define(env));
  exports.Set("NativeSequence", NativeSequence::Define(env));
  exports.Set("isa", Napi::String::New(env, isa_name(isa_active())));
  return exports;
}

}  // namespace

}  // namespace lckv

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return lckv::Init(env, exports); }

NODE_API_MODULE(lckv, InitAddon)
