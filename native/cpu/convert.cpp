#include "convert.h"

#include <cmath>
#include <vector>

namespace tramontane::cpu {

static float half_to_float(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(float(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(float(mantissa | 0x400), exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = half_to_float(uint16_t(i));
    return t;
  }();
  return table.data();
}

void to_f32(float* out, const void* src, StoredType type, size_t n) {
  switch (type) {
    case StoredType::F32:
      std::memcpy(out, src, n * sizeof(float));
      break;
    case StoredType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(s[i]);
      break;
    }
    case StoredType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      const float* table = f16_table();
      for (size_t i = 0; i < n; ++i) out[i] = table[s[i]];
      break;
    }
    default:  // the quantized types widen through dequantize_row (quant_blocks.h)
      break;
  }
}

}  // namespace tramontane::cpu
