#include "tensor.h"

namespace tramontane {

const char* stored_type_name(StoredType t) {
  switch (t) {
    case StoredType::F32: return "F32";
    case StoredType::BF16: return "BF16";
    case StoredType::F16: return "F16";
    case StoredType::Q8_0: return "Q8_0";
    case StoredType::Q4_0: return "Q4_0";
    case StoredType::Q4_1: return "Q4_1";
    case StoredType::Q5_0: return "Q5_0";
    case StoredType::Q5_1: return "Q5_1";
    case StoredType::Q4_K: return "Q4_K";
    case StoredType::Q5_K: return "Q5_K";
    case StoredType::Q6_K: return "Q6_K";
    case StoredType::IQ4_NL: return "IQ4_NL";
    case StoredType::IQ4_XS: return "IQ4_XS";
    case StoredType::Q2_K: return "Q2_K";
    case StoredType::Q3_K: return "Q3_K";
  }
  return "?";
}

int64_t block_size(StoredType t) {
  switch (t) {
    case StoredType::F32:
    case StoredType::BF16:
    case StoredType::F16: return 1;
    case StoredType::Q8_0:
    case StoredType::Q4_0:
    case StoredType::Q4_1:
    case StoredType::Q5_0:
    case StoredType::Q5_1:
    case StoredType::IQ4_NL: return 32;
    case StoredType::Q4_K:
    case StoredType::Q5_K:
    case StoredType::Q6_K:
    case StoredType::IQ4_XS:
    case StoredType::Q2_K:
    case StoredType::Q3_K: return 256;
  }
  return 1;
}

size_t block_bytes(StoredType t) {
  switch (t) {
    case StoredType::F32: return 4;
    case StoredType::BF16:
    case StoredType::F16: return 2;
    case StoredType::Q8_0: return 34;    // f16 scale + 32 int8
    case StoredType::Q4_0: return 18;    // f16 scale + 32 nibbles
    case StoredType::Q4_1: return 20;    // f16 scale and min + 32 nibbles
    case StoredType::Q5_0: return 22;    // f16 scale + 32 high bits + 32 nibbles
    case StoredType::Q5_1: return 24;    // f16 scale and min + high bits + nibbles
    case StoredType::Q4_K: return 144;   // f16 d, dmin + 12 bytes of 6-bit scales + 128
    case StoredType::Q5_K: return 176;   // as Q4_K + 32 bytes of high bits
    case StoredType::Q6_K: return 210;   // 128 low + 64 high + 16 scales + f16 d
    case StoredType::IQ4_NL: return 18;  // f16 scale + 32 nibbles (non-linear table)
    case StoredType::IQ4_XS: return 136; // f16 d + scales + 128 nibbles
    case StoredType::Q2_K: return 84;    // 16 scale/min bytes + 64 of 2-bit values + f16 d, dmin
    case StoredType::Q3_K: return 110;   // 32 high-bit bytes + 64 of 2-bit values + 12 scales + f16 d
  }
  return 0;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace tramontane
