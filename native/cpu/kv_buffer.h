// The CPU backend's keys and values: fp32, [layer][slot][kv_dim], keys after RoPE, and
// position p in slot p mod capacity (kv_cache.h). Which positions are held is the
// session's business; this only stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace tramontane::cpu {

class KvBuffer {
 public:
  // kv_dim = n_kv_heads * head_dim. Throws a one-line Error when memory is short.
  KvBuffer(int n_layers, int kv_dim, int capacity);

  int capacity() const { return capacity_; }

  // Keys/values of one layer at one position: kv_dim floats.
  const float* key(int layer, int64_t pos) const { return keys_.get() + offset(layer, pos); }
  const float* value(int layer, int64_t pos) const { return values_.get() + offset(layer, pos); }
  float* key(int layer, int64_t pos) { return keys_.get() + offset(layer, pos); }
  float* value(int layer, int64_t pos) { return values_.get() + offset(layer, pos); }

 private:
  size_t offset(int layer, int64_t pos) const {
    const size_t slot = size_t(pos % capacity_);
    return (size_t(layer) * size_t(capacity_) + slot) * size_t(kv_dim_);
  }

  struct Free {
    void operator()(float* p) const { std::free(p); }
  };

  int kv_dim_, capacity_;
  // calloc'd: pages are committed only once written, so a large context costs memory
  // only as it fills.
  std::unique_ptr<float[], Free> keys_, values_;
};

}  // namespace tramontane::cpu
