// A small GGUF (version 3) writer: for tests, for benchmark models, and for files
// llama.cpp reads. Metadata in the order added, then the tensor infos, then the data,
// every tensor at a multiple of the alignment (32). Tensors are either held (add_tensor)
// or declared and streamed when the file is written (a model larger than memory).
#pragma once

#include <cstdint>
#include <functional>
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

  // A tensor whose bytes are not held: write() asks for them when it reaches it. Its
  // size is rows × row_bytes(type, cols), rows the product of the other dimensions.
  void declare_tensor(const std::string& name, StoredType type, const std::vector<int64_t>& shape);

  // The whole file; only when every tensor is held.
  std::string bytes() const;
  // Writes the file; `stream(i, put)` hands declared tensor i's bytes (i counts every
  // tensor, in the order added) through any number of put calls. Throws Error naming
  // path when it cannot be written or a streamed tensor's size is not the declared one.
  using Put = std::function<void(const void* data, size_t bytes)>;
  void write(const std::string& path, const std::function<void(size_t, const Put&)>& stream = nullptr) const;

 private:
  struct Tensor {
    std::string name;
    StoredType type;
    std::vector<int64_t> shape;
    uint64_t size;
    bool streamed;
    std::string data;  // held tensors only
  };
  std::string header() const;  // up to the first tensor's data, padded
  void key(const std::string& key, uint32_t type);
  std::string kv_;
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace tramontane::gguf
