// Errors that cross into JavaScript carry a stable code (see lib/errors.ts).
#pragma once
#include <stdexcept>
#include <string>

namespace lckv {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

}  // namespace lckv
