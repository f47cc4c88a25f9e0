#include "kv_cache.h"

#include <string>

#include "tramontane/engine.h"

namespace tramontane {

KvCache::KvCache(int n_layers, int kv_dim, int window, int capacity, Storage storage)
    : n_layers_(n_layers), kv_dim_(kv_dim), window_(window), capacity_(capacity) {
  if (capacity < 1 || (window > 0 && capacity < window)) {
    throw Error("KV cache capacity " + std::to_string(capacity) + " is below the window " +
                std::to_string(window));
  }
  if (storage == Storage::None) return;
  size_t count = size_t(n_layers) * size_t(capacity) * size_t(kv_dim);
  keys_.reset(static_cast<float*>(std::calloc(count, sizeof(float))));
  values_.reset(static_cast<float*>(std::calloc(count, sizeof(float))));
  if (!keys_ || !values_) {
    throw Error("cannot allocate the KV cache (" +
                std::to_string(2 * count * sizeof(float) >> 20) +
                " MiB): use a smaller context or slack");
  }
}

void KvCache::commit(int64_t n) {
  end_ += n;
  if (end_ - capacity_ > begin_) begin_ = end_ - capacity_;
}

bool KvCache::can_truncate(int64_t length) const {
  if (length < 0 || length > end_) return false;
  if (length == 0) return true;
  // The next query sits at `length` and looks back to first_visible(length); positions
  // from `length` on are fed again, so only [first_visible, length) must be held.
  return begin_ <= first_visible(length);
}

void KvCache::truncate(int64_t length) {
  if (length == 0) {
    clear();
    return;
  }
  end_ = length;
}

}  // namespace tramontane
