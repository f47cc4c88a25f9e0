// Tensors as a weight format stores them: a name, a shape, a stored element type and
// the bytes of each row. Nothing here owns or converts data: bf16/f16 weights stay
// 2 bytes per value, quantized ones stay in their blocks, and the CPU kernels read them
// as they are.
//
// A row is the fastest-varying dimension (the last of a safetensors shape, ne0 of a
// GGUF one). Plain types store each value in whole bytes; block types (quantized
// formats) store a row as row_length / block_size blocks of fixed size, so code that
// walks a matrix steps by row_bytes(), never by "bytes per element".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tramontane {

// Every element type a weight may be stored in: the float formats safetensors and GGUF
// share, and GGUF's block-quantized ones (layouts in cpu/quant_blocks.h). A new block
// format adds an entry here and a line in each function in tensor.cpp; the loaders
// refuse what a backend cannot read.
enum class StoredType { F32, BF16, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, Q2_K, Q3_K };

const char* stored_type_name(StoredType t);
// Values per block (1 for the plain types) and bytes per block.
int64_t block_size(StoredType t);
size_t block_bytes(StoredType t);
// Bytes of one row of `row_length` values; row_length must be a multiple of the block.
inline size_t row_bytes(StoredType t, int64_t row_length) {
  return size_t(row_length / block_size(t)) * block_bytes(t);
}
inline bool is_quantized(StoredType t) { return block_size(t) > 1; }

// One tensor of a weight file, with its data already bounds-checked.
struct TensorView {
  std::string name;
  StoredType type = StoredType::F32;
  std::vector<int64_t> shape;  // slowest dimension first; the last is the row
  const void* data = nullptr;  // aligned to block_bytes(type) where the type needs it
  size_t nbytes = 0;
  std::string file;  // file name (no directory), for error messages
  // Bytes of one row (the last dimension); the whole tensor for a scalar.
  size_t row_bytes() const {
    return shape.empty() ? nbytes : tramontane::row_bytes(type, shape.back());
  }
};

// A row-major matrix [rows, cols]. Linear layers are stored as [out, in], as in
// PyTorch's nn.Linear, so y = W x reads one contiguous row per output.
struct Matrix {
  const void* data = nullptr;
  StoredType type = StoredType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes() const { return tramontane::row_bytes(type, cols); }
  size_t bytes() const { return size_t(rows) * row_bytes(); }
};

// "[128, 64]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace tramontane
