// A minimal test harness for the native test binary: named cases, CHECK macros, and the
// closing line "N passed, N failed" that CI reads.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace lckv::test {

struct Case {
  std::string name;
  std::function<void()> fn;
};

std::vector<Case>& registry();
void record_failure(const char* file, int line, const std::string& what);

struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace lckv::test

#define LCKV_CAT2(a, b) a##b
#define LCKV_CAT(a, b) LCKV_CAT2(a, b)
#define TEST_CASE(name)                                                                 \
  static void LCKV_CAT(test_fn_, __LINE__)();                                           \
  static ::lckv::test::Register LCKV_CAT(test_reg_, __LINE__)(name, LCKV_CAT(test_fn_, __LINE__)); \
  static void LCKV_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) ::lckv::test::record_failure(__FILE__, __LINE__, #cond);         \
  } while (0)

#define CHECK_MSG(cond, msg)                                                      \
  do {                                                                            \
    if (!(cond)) ::lckv::test::record_failure(__FILE__, __LINE__, std::string(#cond) + ": " + (msg)); \
  } while (0)
