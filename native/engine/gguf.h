// GGUF reader (versions 2 and 3, little-endian), memory-mapped.
//
// Layout of a file, every integer little-endian:
//
//   "GGUF"  u32 version  u64 tensor_count  u64 kv_count
//   kv_count × { string key, u32 value_type, value }
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32)
//   tensor data: each tensor at data_start + offset, offset a multiple of the alignment
//
// A string is { u64 length, bytes }; an array { u32 element_type, u64 count, elements }.
// ne[0] is the fastest-moving dimension (the row length of a matrix).
//
// Example: a 2-tensor file with one metadata pair starts
//   47 47 55 46 | 03 00 00 00 | 02 00.. (u64) | 01 00.. (u64)
//   14 00.. "general.architecture" | 08 00 00 00 (string) | 05 00.. "llama" ...
//
// Everything is checked against the file size with overflow-checked arithmetic before
// it is used: counts against the bytes they need, string and array lengths, array
// element types (no nested arrays), dimensions (1..4, each ≥ 1, element count in range,
// the row a whole number of blocks), alignment (a power of two ≤ 1 MiB), every tensor's
// offset and size inside the file, no two tensors overlapping. A malformed file gives a
// one-line Error naming the file and the field or tensor, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mapped_file.h"
#include "tensor.h"

namespace tramontane::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata value. Scalars are copied out; arrays stay in the mapped file (their
// bounds and, for strings, every element's length have been checked).
struct Value {
  ValueType type = ValueType::U8;
  uint64_t u = 0;       // unsigned integers and bool
  int64_t i = 0;        // signed integers
  double f = 0;         // F32 / F64
  std::string str;      // String
  ValueType element_type = ValueType::U8;  // Array
  uint64_t count = 0;                      // Array
  const uint8_t* elements = nullptr;       // Array: the first element's bytes
};

// A ggml tensor type id with its block shape (values per block, bytes per block).
struct GgmlType {
  uint32_t id = 0;
  const char* name = "?";
  int block_values = 0;
  int block_bytes = 0;
};
// Null for ids ggml does not define.
const GgmlType* ggml_type(uint32_t id);
// The StoredType the engine computes with, or nullopt for ggml types it cannot read.
std::optional<StoredType> engine_type(uint32_t ggml_id);
// GGML id of an engine StoredType (for the writer).
uint32_t ggml_id(StoredType t);

struct Tensor {
  std::string name;
  uint32_t type = 0;           // ggml type id, known (ggml_type() is non-null)
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t offset = 0;         // from the start of the file
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;

  const char* type_name() const { return ggml_type(type)->name; }
  // Dims slowest-first as the engine writes shapes ([rows, cols] for a matrix).
  std::vector<int64_t> shape() const;
};

class File {
 public:
  static constexpr uint32_t kMaxAlignment = 1u << 20;

  // Maps and parses path.
  explicit File(const std::string& path);
  // Parses bytes the caller keeps alive (tests, the fuzz target). `name` is used in
  // messages.
  File(const uint8_t* data, size_t size, const std::string& name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const Tensor* tensor(const std::string& name) const;
  const std::map<std::string, Value>& metadata() const { return metadata_; }

  // Typed metadata lookups: nullopt when the key is absent, a one-line Error naming
  // the key when it has another type (or an integer out of range).
  const Value* find(const std::string& key) const;
  std::optional<int64_t> integer(const std::string& key) const;
  std::optional<double> number(const std::string& key) const;  // integers or floats
  std::optional<std::string> string(const std::string& key) const;
  std::optional<bool> boolean(const std::string& key) const;
  // Arrays, element by element; an element type other than the one asked for is an
  // Error naming the key (integers of any width are accepted for int32s).
  std::optional<std::vector<std::string>> strings(const std::string& key) const;
  std::optional<std::vector<float>> floats(const std::string& key) const;
  std::optional<std::vector<int32_t>> int32s(const std::string& key) const;

  // "name: message" as a one-line Error.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void parse(const uint8_t* data, size_t size);
  const Value& array(const std::string& key, ValueType element) const;

  std::string name_;
  std::unique_ptr<MappedFile> mapped_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  std::map<std::string, Value> metadata_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> index_;
};

// True when path ends in ".gguf".
bool is_gguf_path(const std::string& path);
// The single .gguf file in dir, or "" when there is none; several is an Error.
std::string find_in_directory(const std::string& dir);

}  // namespace tramontane::gguf
