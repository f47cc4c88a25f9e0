#include "kv_buffer.h"

#include <string>

#include "tramontane/engine.h"

namespace tramontane::cpu {

KvBuffer::KvBuffer(int n_layers, int kv_dim, int capacity) : kv_dim_(kv_dim), capacity_(capacity) {
  const size_t count = size_t(n_layers) * size_t(capacity) * size_t(kv_dim);
  keys_.reset(static_cast<float*>(std::calloc(count, sizeof(float))));
  values_.reset(static_cast<float*>(std::calloc(count, sizeof(float))));
  if (!keys_ || !values_) {
    throw Error("cannot allocate the KV cache (" +
                std::to_string(2 * count * sizeof(float) >> 20) +
                " MiB): use a smaller context or slack");
  }
}

}  // namespace tramontane::cpu
