#include "kv_cache.h"

#include <string>

#include "tramontane/engine.h"

namespace tramontane {

KvPositions::KvPositions(int window, int capacity) : window_(window), capacity_(capacity) {
  if (capacity < 1 || (window > 0 && capacity < window)) {
    throw Error("KV cache capacity " + std::to_string(capacity) + " is below the window " +
                std::to_string(window));
  }
}

void KvPositions::commit(int64_t n) {
  end_ += n;
  if (end_ - capacity_ > begin_) begin_ = end_ - capacity_;
}

bool KvPositions::can_truncate(int64_t length) const {
  if (length < 0 || length > end_) return false;
  if (length == 0) return true;
  // The next query sits at `length` and looks back to first_visible(length); positions
  // from `length` on are fed again, so only [first_visible, length) must be held.
  return begin_ <= first_visible(length);
}

void KvPositions::truncate(int64_t length) {
  if (length == 0) {
    clear();
    return;
  }
  end_ = length;
}

void KvCache::read_last_logits(float* logits) {
  (void)logits;
  throw Error("read_last_logits: this backend has no greedy decode path");
}

}  // namespace tramontane
