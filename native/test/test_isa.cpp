// Which instruction-set paths the kernel tests compare against the reference: printed so a
// CI log shows them, and checked so a build for arm64 cannot lose its NEON path unnoticed.
#include <algorithm>
#include <string>

#include "kernels/cpu/isa.h"
#include "test/check.h"

using namespace lckv;

TEST_CASE("isa: the kernel tests cover every path this build targets") {
  const std::vector<Isa> paths = isa_available();
  std::string names;
  for (Isa isa : paths) names += std::string(names.empty() ? "" : ", ") + isa_name(isa);
  std::printf("    ISA paths under test: %s (default: %s)\n", names.c_str(), isa_name(isa_detect()));
  CHECK(paths.front() == Isa::Generic);
#if defined(__aarch64__)
  CHECK(std::find(paths.begin(), paths.end(), Isa::Neon) != paths.end());
#endif
}
