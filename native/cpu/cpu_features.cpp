#include "cpu_features.h"

#include <cstdlib>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <cstring>
#include <initializer_list>

namespace tramontane::cpu {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Half-precision conversions (CPUID leaf 1, ECX bit 29); not every compiler's
// __builtin_cpu_supports knows "f16c".
static bool has_f16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
}
#endif

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Reference:
      return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case Isa::Avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case Isa::Avx512:
      __builtin_cpu_init();
      return isa_supported(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
#if defined(__aarch64__)
    case Isa::Neon:
      return true;  // Advanced SIMD and fp16 conversion are part of ARMv8-A
#endif
    default:
      return false;
  }
}

namespace {

Isa pick() {
  Isa best = Isa::Reference;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (isa_supported(isa)) best = isa;
  }
  const char* asked = std::getenv("TRAMONTANE_CPU_KERNELS");
  if (asked && *asked) {
    for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
      // Lower only: an ISA the CPU lacks would crash, so it falls back to the best.
      if (std::strcmp(asked, isa_name(isa)) == 0 && isa_supported(isa)) return isa;
    }
  }
  return best;
}

}  // namespace

Isa active_isa() {
  static const Isa chosen = pick();
  return chosen;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Reference: return "reference";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

const char* kernel_name() { return isa_name(active_isa()); }

}  // namespace tramontane::cpu
