// fp32 views of the 16-bit formats weights are stored in.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor.h"

namespace tramontane::cpu {

// bfloat16 is the top half of an fp32: widening is a shift.
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// IEEE half → fp32 through a 64K-entry table (exact, including subnormals, inf, NaN);
// x86-64-v2 has no F16C instructions to do it in hardware.
const float* f16_table();
inline float f16_to_f32(uint16_t h) { return f16_table()[h]; }

// Widens n consecutive values of a plain stored type (F32, BF16, F16) to fp32.
void to_f32(float* out, const void* src, StoredType type, size_t n);

}  // namespace tramontane::cpu
