// The CPU backend's keys and values: [layer][slot][kv_dim], keys after RoPE, and
// position p in slot p mod capacity (kv_cache.h). Which positions are held is the
// session's business; this only stores, in one of two element types:
//   F32: exact; what the tests and the reference use.
//   F16: half the memory and half the bytes attention reads per key (the CUDA cache's
//        type too); values are rounded to nearest even on the way in. The default for
//        real models (engine/cpu_backend.cpp; bench/results-cpu.md has the figures).
// The rounding is this class's rule: round_to_storage() applies it to a chunk's own
// keys and values, so that a query reads them as it will read them from the cache later
// and gets the same bits whatever the chunking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace tramontane::cpu {

enum class KvType { F32, F16 };
const char* kv_type_name(KvType type);  // "f32", "f16"

class KvBuffer {
 public:
  // kv_dim = n_kv_heads * head_dim. Throws a one-line Error when memory is short.
  KvBuffer(int n_layers, int kv_dim, int capacity, KvType type = KvType::F32);

  int capacity() const { return capacity_; }
  KvType type() const { return type_; }

  // Stores the keys and values (kv_dim floats each) of one layer at one position.
  void write(int layer, int64_t pos, const float* k, const float* v);

  // count keys or values from index `first` of one layer at one position, as fp32.
  void read_key(int layer, int64_t pos, int first, int count, float* dst) const {
    read(keys_.get(), layer, pos, first, count, dst);
  }
  void read_value(int layer, int64_t pos, int first, int count, float* dst) const {
    read(values_.get(), layer, pos, first, count, dst);
  }

  // Rounds n values in place as storing them would (nothing to do for F32).
  void round_to_storage(float* x, size_t n) const;

  // The stored keys/values of one layer at one position (kv_dim floats): F32 only.
  const float* key(int layer, int64_t pos) const { return f32(keys_.get(), layer, pos); }
  const float* value(int layer, int64_t pos) const { return f32(values_.get(), layer, pos); }
  float* key(int layer, int64_t pos) { return f32(keys_.get(), layer, pos); }
  float* value(int layer, int64_t pos) { return f32(values_.get(), layer, pos); }

 private:
  size_t offset(int layer, int64_t pos) const {  // in elements
    const size_t slot = size_t(pos % capacity_);
    return (size_t(layer) * size_t(capacity_) + slot) * size_t(kv_dim_);
  }
  size_t element_bytes() const { return type_ == KvType::F32 ? 4 : 2; }
  float* f32(uint8_t* base, int layer, int64_t pos) const;
  void read(const uint8_t* base, int layer, int64_t pos, int first, int count, float* dst) const;

  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };

  int kv_dim_, capacity_;
  KvType type_;
  // calloc'd: pages are committed only once written, so a large context costs memory
  // only as it fills.
  std::unique_ptr<uint8_t[], Free> keys_, values_;
};

}  // namespace tramontane::cpu
