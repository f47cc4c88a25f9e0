// Views of weight tensors as they lie in the memory-mapped safetensors files.
// Nothing here owns or converts data: bf16/f16 weights stay 2 bytes per value and
// the CPU kernels widen them to fp32 on the fly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tramontane {

enum class DType { F32, BF16, F16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
  }
  return "?";
}

// One tensor of a safetensors file, with its data already bounds-checked.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // aligned to dtype_size(dtype)
  size_t nbytes = 0;
  std::string file;  // file name (no directory), for error messages
};

// A row-major matrix [rows, cols]. Linear layers are stored as [out, in], as in
// PyTorch's nn.Linear, so y = W x reads one contiguous row per output.
struct Matrix {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// "[128, 64]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace tramontane
