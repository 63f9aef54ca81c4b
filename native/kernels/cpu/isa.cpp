#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace lckv {

namespace {

bool cpu_has_avx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // The compiler runtime also checks that the OS saves the 512-bit registers (XCR0).
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return cpu_has_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// AArch64 makes Advanced SIMD (with f16 <-> f32 conversion) part of the base
// architecture, so the build target alone decides.
bool cpu_has_neon() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{int(isa_detect())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Neon: return "neon";
    default: return "generic";
  }
}

Isa isa_detect() {
  const char* named = std::getenv("LCKV_ISA");
  Isa best = Isa::Generic;
  for (Isa isa : isa_available()) {
    if (named && std::strcmp(named, isa_name(isa)) == 0) return isa;
    if (!isa_opt_in(isa)) best = isa;
  }
  return best;
}

std::vector<Isa> isa_available() {
  std::vector<Isa> out{Isa::Generic};
  if (cpu_has_avx2()) out.push_back(Isa::Avx2);
  if (cpu_has_avx512()) out.push_back(Isa::Avx512);
  if (cpu_has_avx512_bf16()) out.push_back(Isa::Avx512Bf16);
  if (cpu_has_neon()) out.push_back(Isa::Neon);
  return out;
}

Isa isa_active() { return Isa(active_slot().load(std::memory_order_relaxed)); }
void isa_set_active(Isa isa) { active_slot().store(int(isa), std::memory_order_relaxed); }

}  // namespace lckv
