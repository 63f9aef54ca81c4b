// Instruction-set paths of the CPU kernels, chosen once at run time so that one binary
// runs on every x86-64 machine. LCKV_ISA=generic in the environment forces the portable path.
#pragma once
#include <vector>

namespace lckv {

enum class Isa { Generic = 0, Avx2 = 1 };

const char* isa_name(Isa isa);
Isa isa_detect();                  // best path this CPU (and the environment) allows
std::vector<Isa> isa_available();  // every path this CPU can run, for tests
Isa isa_active();
void isa_set_active(Isa isa);      // tests only: compare paths against each other

}  // namespace lckv
