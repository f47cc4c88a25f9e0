// Which instruction set the fast CPU kernels use, chosen once at run time.
//
// The engine is compiled for x86-64-v2; the AVX2 and AVX-512 kernels carry their own
// function-level target attributes and run only where the CPU reports the features.
// TRAMONTANE_CPU_KERNELS=reference|avx2|avx512|neon lowers the choice (never above what
// the CPU has), for tests and benchmarks.
#pragma once

namespace tramontane::cpu {

enum class Isa {
  Reference,  // the readable fp32 loops of matmul.cpp: the oracle
  Avx2,       // AVX2 + FMA + F16C
  Avx512,     // AVX-512 F/BW/VL + FMA + F16C
  Neon,       // ARM64 Advanced SIMD (with fp16 conversions)
};

// Whether this CPU (and this build) can run isa's kernels.
bool isa_supported(Isa isa);

// The kernels matmul uses: the best supported, or what TRAMONTANE_CPU_KERNELS asks.
Isa active_isa();

const char* isa_name(Isa isa);

// isa_name(active_isa()), for logs and benchmarks.
const char* kernel_name();

}  // namespace tramontane::cpu
