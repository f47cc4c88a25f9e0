// The rolling-buffer KV cache of one session.
//
// Each layer keeps C = capacity() slots of keys and values (fp32, keys after RoPE).
// Position p lives in slot p mod C, so a sliding-window model never needs more than
// C = W + slack slots however long the sequence grows: attention only looks back W
// positions, and the slack is what makes rolling back exact.
//
// Worked example: W = 4, slack = 2, so C = 6. After 9 tokens (positions 0..8):
//
//     slot:      0  1  2  3  4  5
//     position:  6  7  8  3  4  5        held: [begin, end) = [3, 9)
//
// Position 9 attends 6, 7, 8, 9 (i − W < j ≤ i): all there (9 itself comes fresh).
// Roll back to 7 tokens: position 7 must attend 4, 5, 6, 7, and 4..6 are still held
// (7 and 8 are simply overwritten when fed again), so the rollback is exact. Roll back
// to 5 tokens instead: position 5 needs 2, 3, 4, 5, but slot 2 now holds position 8,
// so 2 is gone and the session must re-prefill. In general, cutting k tokens off a
// cache that was filled in order is exact while k ≤ slack.
//
// Models without a window attend to everything: C is the context length, slots never
// wrap, and feeding past C is an error ("context full").
//
// Positions are written only by whoever runs a forward pass (write_key/write_value),
// after that pass has read what it needs: a chunk longer than the slack would otherwise
// overwrite keys its own first queries still need.
//
// A backend that keeps keys and values elsewhere (the GPU) derives from KvCache with
// Storage::None: the positions are bookkept here all the same, and key()/value() must
// not be called.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace tramontane {

class KvCache {
 public:
  enum class Storage { Host, None };

  // kv_dim = n_kv_heads * head_dim; window = 0 for full attention.
  KvCache(int n_layers, int kv_dim, int window, int capacity, Storage storage = Storage::Host);
  virtual ~KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int capacity() const { return capacity_; }
  int window() const { return window_; }
  int kv_dim() const { return kv_dim_; }

  // Positions [begin(), end()) are held.
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

  int slot(int64_t pos) const { return int(pos % capacity_); }

  // The first position a query at `pos` attends to.
  int64_t first_visible(int64_t pos) const {
    if (window_ == 0) return 0;
    return pos - window_ + 1 > 0 ? pos - window_ + 1 : 0;
  }

  // Keys/values of one layer at one held position: kv_dim floats.
  const float* key(int layer, int64_t pos) const { return keys_.get() + offset(layer, pos); }
  const float* value(int layer, int64_t pos) const { return values_.get() + offset(layer, pos); }
  float* key(int layer, int64_t pos) { return keys_.get() + offset(layer, pos); }
  float* value(int layer, int64_t pos) { return values_.get() + offset(layer, pos); }

  // Whether positions [end(), end() + n) can be appended (always, with a window).
  bool fits(int64_t n) const { return window_ > 0 || end_ + n <= capacity_; }

  // Records that every layer now holds positions [end(), end() + n): the slots they
  // overwrote are gone.
  void commit(int64_t n);

  // Whether the sequence can be cut to `length` tokens and continued exactly: every key
  // a later query would need is still held.
  bool can_truncate(int64_t length) const;
  void truncate(int64_t length);  // requires can_truncate(length)
  void clear() { begin_ = end_ = 0; }

 private:
  size_t offset(int layer, int64_t pos) const {
    return (size_t(layer) * size_t(capacity_) + size_t(slot(pos))) * size_t(kv_dim_);
  }

  struct Free {
    void operator()(float* p) const { std::free(p); }
  };

  int n_layers_, kv_dim_, window_, capacity_;
  int64_t begin_ = 0, end_ = 0;
  // [layer][slot][kv_dim]. calloc'd: pages are committed only once written, so a large
  // context costs memory only as it fills.
  std::unique_ptr<float[], Free> keys_, values_;
};

}  // namespace tramontane
