// Instruction-set paths of the CPU kernels, chosen once at run time so that one binary
// runs on every x86-64 or arm64 machine. LCKV_ISA=generic in the environment forces the portable path.
#pragma once
#include <vector>

namespace lckv {

// Avx2 exists only on x86-64 CPUs with AVX2+FMA+F16C, Avx512 where they also have AVX-512F;
// Neon on every arm64 build.
enum class Isa { Generic = 0, Avx2 = 1, Neon = 2, Avx512 = 3 };

// Whether a path may run the AVX2 kernels: Avx512 has 16-lane kernels only where 16 lanes
// pay (the panel matmul) and runs the AVX2 ones everywhere else.
inline bool isa_runs_avx2(Isa isa) { return isa == Isa::Avx2 || isa == Isa::Avx512; }

const char* isa_name(Isa isa);
Isa isa_detect();                  // best path this CPU (and the environment) allows
std::vector<Isa> isa_available();  // every path this CPU can run, for tests
Isa isa_active();
void isa_set_active(Isa isa);      // tests only: compare paths against each other

}  // namespace lckv
