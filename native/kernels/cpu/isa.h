// Instruction-set paths of the CPU kernels, chosen once at run time so that one binary
// runs on every x86-64 or arm64 machine. LCKV_ISA=<name> in the environment picks another path
// the CPU has (generic, avx2, avx512, avx512bf16, neon).
#pragma once
#include <vector>

namespace lckv {

// Avx2 exists only on x86-64 CPUs with AVX2+FMA+F16C, Avx512 where they also have AVX-512F;
// Neon on every arm64 build. Avx512Bf16 (AVX-512F/BW/BF16) is Avx512 plus bf16 dot products
// for BF16 weights, which round x to bf16: never the default, only when LCKV_ISA names it.
enum class Isa { Generic = 0, Avx2 = 1, Neon = 2, Avx512 = 3, Avx512Bf16 = 4 };

// Whether a path may run the AVX2 kernels: the AVX-512 paths have 16-lane kernels only where
// 16 lanes pay (the panel matmul) and run the AVX2 ones everywhere else.
inline bool isa_runs_avx2(Isa isa) { return isa == Isa::Avx2 || isa == Isa::Avx512 || isa == Isa::Avx512Bf16; }

// Paths that change results (not only speed) against the others: chosen only by name.
inline bool isa_opt_in(Isa isa) { return isa == Isa::Avx512Bf16; }

const char* isa_name(Isa isa);
Isa isa_detect();                  // best exact path this CPU allows, or the one LCKV_ISA names
std::vector<Isa> isa_available();  // every path this CPU can run, for tests
Isa isa_active();
void isa_set_active(Isa isa);      // tests and benchmarks only: compare paths with each other

}  // namespace lckv
