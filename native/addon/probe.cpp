#include "addon/probe.h"

#include <string>
#include <vector>

#include "addon/convert.h"
#include "bench/attention_probe.h"
#include "bench/hw_probe.h"
#include "kernels/cpu/isa.h"

namespace lckv {

namespace {

struct ProbeRequest {
  int32_t threads = 1;
  int64_t triad_elements = 0;
  int64_t m = 0, n = 0, k = 0;  // matmul shape: x [m, k] · w [n, k]ᵀ
  int64_t fma_iterations = 0;
  AttentionShape attention_shape;
  int64_t attention_context = 0;
  std::vector<int64_t> attention_batches;
  int32_t reps = 1;
};

Napi::Array seconds_to_js(Napi::Env env, const std::vector<double>& seconds) {
  Napi::Array out = Napi::Array::New(env, seconds.size());
  for (size_t i = 0; i < seconds.size(); ++i) out.Set(uint32_t(i), seconds[i]);
  return out;
}

class ProbeWorker : public Napi::AsyncWorker {
 public:
  ProbeWorker(Napi::Env env, ProbeRequest req)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), req_(req) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      ThreadPool pool(req_.threads);
      triad_ = probe_triad(req_.triad_elements, req_.reps, pool);
      read_ = probe_read(req_.triad_elements, req_.reps, pool);
      matmul_ = probe_matmul(req_.m, req_.n, req_.k, req_.reps, pool);
      fma_ = probe_fma(req_.fma_iterations, req_.reps, pool);
      // Each cache set at least one triad array's size: far beyond the last-level cache.
      for (int64_t batch : req_.attention_batches)
        attention_.push_back(probe_decode_attention(req_.attention_shape, batch, req_.attention_context,
                                                    4 * req_.triad_elements, req_.reps, pool));
    } catch (const std::bad_alloc&) {
      SetError("out of memory");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("isa", isa_name(isa_active()));
    out.Set("threads", req_.threads);
    Napi::Object triad = Napi::Object::New(env);
    triad.Set("seconds", seconds_to_js(env, triad_));
    triad.Set("bytes", kTriadBytesPerElement * double(req_.triad_elements));
    Napi::Object mm = Napi::Object::New(env);
    mm.Set("seconds", seconds_to_js(env, matmul_));
    mm.Set("flops", 2.0 * double(req_.m) * double(req_.n) * double(req_.k));
    Napi::Object fma = Napi::Object::New(env);
    fma.Set("seconds", seconds_to_js(env, fma_.seconds));
    fma.Set("flops", fma_.flops);
    Napi::Object read = Napi::Object::New(env);
    read.Set("seconds", seconds_to_js(env, read_));
    read.Set("bytes", 4.0 * double(req_.triad_elements));
    out.Set("triad", triad);
    out.Set("read", read);
    out.Set("matmul", mm);
    out.Set("fma", fma);
    Napi::Array attention = Napi::Array::New(env, attention_.size());
    for (size_t i = 0; i < attention_.size(); ++i) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("batch", double(req_.attention_batches[i]));
      a.Set("seconds", seconds_to_js(env, attention_[i].seconds));
      a.Set("bytes", attention_[i].bytes);
      attention.Set(uint32_t(i), a);
    }
    out.Set("attention", attention);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& err) override {
    deferred_.Reject(to_js_error(Env(), "OUT_OF_MEMORY", err.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ProbeRequest req_;
  std::vector<double> triad_, read_, matmul_;
  FmaProbe fma_;
  std::vector<AttentionProbe> attention_;
};

int64_t positive(const Napi::Object& obj, const char* key, int64_t max) {
  const Napi::Value v = obj.Get(key);
  const int64_t n = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
  if (n < 1 || n > max) throw Error("INVALID_ARGUMENT", std::string("probeHardware: ") + key + " out of range");
  return n;
}

}  // namespace

Napi::Value ProbeHardware(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    const char* usage =
        "probeHardware({ threads, triadElements, matmul: [m, n, k], fmaIterations, "
        "attention: { shape: [heads, kvHeads, headDim], context, batches }, reps })";
    if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().Get("matmul").IsArray() ||
        !info[0].As<Napi::Object>().Get("attention").IsObject())
      throw Error("INVALID_ARGUMENT", usage);
    const Napi::Object opts = info[0].As<Napi::Object>();
    const Napi::Object shape = opts.Get("matmul").As<Napi::Object>();
    const Napi::Object attention = opts.Get("attention").As<Napi::Object>();
    if (!attention.Get("shape").IsArray() || !attention.Get("batches").IsArray()) throw Error("INVALID_ARGUMENT", usage);
    const Napi::Object heads = attention.Get("shape").As<Napi::Object>();
    const Napi::Array batches = attention.Get("batches").As<Napi::Array>();
    ProbeRequest req;
    req.threads = int32_t(positive(opts, "threads", 1024));
    req.triad_elements = positive(opts, "triadElements", int64_t(1) << 32);
    req.m = positive(shape, "0", 1 << 16);
    req.n = positive(shape, "1", 1 << 16);
    req.k = positive(shape, "2", 1 << 16);
    req.fma_iterations = positive(opts, "fmaIterations", int64_t(1) << 40);
    req.attention_shape.n_heads = int32_t(positive(heads, "0", 1 << 12));
    req.attention_shape.n_kv_heads = int32_t(positive(heads, "1", req.attention_shape.n_heads));
    req.attention_shape.head_dim = int32_t(positive(heads, "2", 1 << 12));
    if (req.attention_shape.n_heads % req.attention_shape.n_kv_heads != 0)
      throw Error("INVALID_ARGUMENT", "probeHardware: attention heads must be a multiple of its kv heads");
    req.attention_context = positive(attention, "context", 1 << 24);
    for (uint32_t i = 0; i < batches.Length(); ++i)
      req.attention_batches.push_back(positive(batches, std::to_string(i).c_str(), 1 << 12));
    req.reps = int32_t(positive(opts, "reps", 1000));
    auto* worker = new ProbeWorker(env, req);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace lckv
