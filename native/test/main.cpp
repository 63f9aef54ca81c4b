#include <cstdlib>

#include "test/check.h"

namespace lckv::test {

namespace {
int failures_in_case = 0;
}

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

void record_failure(const char* file, int line, const std::string& what) {
  if (failures_in_case++ < 5) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace lckv::test

int main() {
  using namespace lckv::test;
  int passed = 0, failed = 0;
  for (const Case& c : registry()) {
    failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      record_failure(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }
    std::printf("%s %s\n", failures_in_case ? "FAIL" : "ok  ", c.name.c_str());
    (failures_in_case ? failed : passed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
