// Conversions between JavaScript values and engine structures. Values were validated in
// lib/; these checks only guard the addon against misuse from JavaScript.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "model/config.h"
#include "model/weights.h"

namespace lckv {

Napi::Error to_js_error(Napi::Env env, const std::string& code, const std::string& message);
ModelConfig config_from_js(const Napi::Object& obj);
std::vector<std::string> strings_from_js(const Napi::Value& value);
std::vector<TensorDesc> tensors_from_js(const Napi::Value& value);

// Runs fn and converts engine errors into JavaScript exceptions with a `code`.
template <typename Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw to_js_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, "OUT_OF_MEMORY", "out of memory");
  }
}

}  // namespace lckv
