// Views of weight tensors as they lie in the memory-mapped safetensors or GGUF files.
// Nothing here owns or converts data: bf16/f16 weights stay 2 bytes per value and
// quantized ones stay in their blocks; the CPU kernels read them as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tramontane {

// The stored element types: the float formats safetensors and GGUF share, and GGUF's
// block-quantized ones (layouts in cpu/quant_blocks.h). Rows of a quantized matrix are
// whole blocks, so sizes go through row_bytes(), never a per-element size.
enum class DType { F32, BF16, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS };

// Values per block and bytes per block (1 value for the float types).
struct BlockShape {
  int values;
  int bytes;
};
inline BlockShape block_shape(DType t) {
  switch (t) {
    case DType::F32: return {1, 4};
    case DType::BF16: return {1, 2};
    case DType::F16: return {1, 2};
    case DType::Q8_0: return {32, 34};
    case DType::Q4_0: return {32, 18};
    case DType::Q4_1: return {32, 20};
    case DType::Q5_0: return {32, 22};
    case DType::Q5_1: return {32, 24};
    case DType::Q4_K: return {256, 144};
    case DType::Q5_K: return {256, 176};
    case DType::Q6_K: return {256, 210};
    case DType::IQ4_NL: return {32, 18};
    case DType::IQ4_XS: return {256, 136};
  }
  return {1, 1};
}
inline bool is_quantized(DType t) { return block_shape(t).values > 1; }
// Bytes of one row of `cols` values (cols a multiple of the block size).
inline size_t row_bytes(DType t, int64_t cols) {
  const BlockShape b = block_shape(t);
  return size_t(cols / b.values) * size_t(b.bytes);
}
// The float types only (the size of one element).
inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_0: return "Q4_0";
    case DType::Q4_1: return "Q4_1";
    case DType::Q5_0: return "Q5_0";
    case DType::Q5_1: return "Q5_1";
    case DType::Q4_K: return "Q4_K";
    case DType::Q5_K: return "Q5_K";
    case DType::Q6_K: return "Q6_K";
    case DType::IQ4_NL: return "IQ4_NL";
    case DType::IQ4_XS: return "IQ4_XS";
  }
  return "?";
}

// One tensor of a safetensors file, with its data already bounds-checked.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // float types: aligned to dtype_size(dtype)
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
