#include "addon/convert.h"

namespace lckv {

namespace {

Napi::Value field(const Napi::Object& obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) throw Error("INVALID_ARGUMENT", std::string("missing field ") + key);
  return v;
}

int32_t int_field(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsNumber()) throw Error("INVALID_ARGUMENT", std::string(key) + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

double number_field(const Napi::Object& obj, const char* key) {
  Napi::Value v = field(obj, key);
  if (!v.IsNumber()) throw Error("INVALID_ARGUMENT", std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool bool_field(const Napi::Object& obj, const char* key) { return field(obj, key).ToBoolean().Value(); }

DType dtype_from_string(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw Error("UNSUPPORTED_DTYPE", "unsupported dtype " + s);
}

}  // namespace

Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

ModelConfig config_from_js(const Napi::Object& obj) {
  ModelConfig c;
  c.vocab_size = int_field(obj, "vocabSize");
  c.hidden_size = int_field(obj, "hiddenSize");
  c.intermediate_size = int_field(obj, "intermediateSize");
  c.n_layers = int_field(obj, "numLayers");
  c.n_heads = int_field(obj, "numHeads");
  c.n_kv_heads = int_field(obj, "numKvHeads");
  c.head_dim = int_field(obj, "headDim");
  c.max_positions = int_field(obj, "maxPositions");
  c.rms_norm_eps = float(number_field(obj, "rmsNormEps"));
  c.rope_theta = number_field(obj, "ropeTheta");
  c.tie_word_embeddings = bool_field(obj, "tieWordEmbeddings");
  c.layer_types = field(obj, "layerTypes").ToString().Utf8Value();
  c.forward_passes = int_field(obj, "forwardPasses");
  c.backward_passes = int_field(obj, "backwardPasses");
  c.sliding_window = int_field(obj, "slidingWindow");
  c.use_sequential = bool_field(obj, "useSequential");
  c.force_nodiag = bool_field(obj, "forceNodiag");
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 ||
      c.n_kv_heads <= 0 || c.head_dim <= 0 || c.head_dim % 2 != 0 || c.n_heads % c.n_kv_heads != 0 ||
      c.max_positions <= 0 || c.sliding_window <= 0)
    throw Error("INVALID_CONFIG", "inconsistent model shape");
  return c;
}

std::vector<std::string> strings_from_js(const Napi::Value& value) {
  if (!value.IsArray()) throw Error("INVALID_ARGUMENT", "expected an array of strings");
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(arr.Get(i).ToString().Utf8Value());
  return out;
}

std::vector<TensorDesc> tensors_from_js(const Napi::Value& value) {
  if (!value.IsArray()) throw Error("INVALID_ARGUMENT", "expected an array of tensors");
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<TensorDesc> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object t = arr.Get(i).As<Napi::Object>();
    TensorDesc d;
    d.name = field(t, "name").ToString().Utf8Value();
    d.file = int_field(t, "file");
    d.dtype = dtype_from_string(field(t, "dtype").ToString().Utf8Value());
    Napi::Value shape = field(t, "shape");
    if (!shape.IsArray()) throw Error("INVALID_ARGUMENT", "shape must be an array");
    Napi::Array s = shape.As<Napi::Array>();
    for (uint32_t j = 0; j < s.Length(); ++j) d.shape.push_back(s.Get(j).As<Napi::Number>().Int64Value());
    const double offset = number_field(t, "offset"), nbytes = number_field(t, "nbytes");
    if (!(offset >= 0) || !(nbytes >= 0) || offset > 9007199254740991.0 || nbytes > 9007199254740991.0)
      throw Error("INVALID_SAFETENSORS", d.name + ": bad offsets");
    d.offset = uint64_t(offset);
    d.nbytes = uint64_t(nbytes);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace lckv
