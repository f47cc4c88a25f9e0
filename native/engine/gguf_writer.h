// A small GGUF (version 3) writer: for tests, for benchmark models, and for files
// llama.cpp reads. Metadata in the order added, then the tensor infos, then the data,
// every tensor at a multiple of the alignment (32).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor.h"

namespace tramontane::gguf {

class Writer {
 public:
  static constexpr uint32_t kAlignment = 32;

  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_strings(const std::string& key, const std::vector<std::string>& v);
  void add_floats(const std::string& key, const std::vector<float>& v);
  void add_i32s(const std::string& key, const std::vector<int32_t>& v);

  // shape slowest-first ([rows, cols]); bytes = rows × row_bytes(type, cols).
  void add_tensor(const std::string& name, StoredType type, const std::vector<int64_t>& shape, const void* data,
                  size_t bytes);

  std::string bytes() const;
  // Throws Error naming path when it cannot be written.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    StoredType type;
    std::vector<int64_t> shape;
    std::string data;
  };
  void key(const std::string& key, uint32_t type);
  std::string kv_;
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace tramontane::gguf
