#include "tensor.h"

namespace tramontane {

const char* stored_type_name(StoredType t) {
  switch (t) {
    case StoredType::F32: return "F32";
    case StoredType::BF16: return "BF16";
    case StoredType::F16: return "F16";
  }
  return "?";
}

int64_t block_size(StoredType t) {
  switch (t) {
    case StoredType::F32:
    case StoredType::BF16:
    case StoredType::F16: return 1;
  }
  return 1;
}

size_t block_bytes(StoredType t) {
  switch (t) {
    case StoredType::F32: return 4;
    case StoredType::BF16:
    case StoredType::F16: return 2;
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
