// The rolling-buffer KV cache of one session: which positions it holds (KvPositions,
// kept by the session alone) and where a backend keeps their keys and values (KvCache,
// one implementation per backend).
//
// Each layer keeps C = capacity slots of keys and values (keys after RoPE). Position p
// lives in slot p mod C, so a sliding-window model never needs more than C = W + slack
// slots however long the sequence grows: attention only looks back W positions, and
// the slack is what makes rolling back exact.
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
// A forward step writes a batch's keys and values only after that step has read what
// it needs: a batch longer than the slack would otherwise overwrite keys its own first
// queries still need.
#pragma once

#include <cstdint>

namespace tramontane {

// Bookkeeping of the positions a cache holds. Owned by the session; backends never see
// it (they are told each batch's positions, see Batch).
class KvPositions {
 public:
  // window = 0 for full attention. Throws when capacity < max(window, 1).
  KvPositions(int window, int capacity);

  int capacity() const { return capacity_; }
  int window() const { return window_; }

  // Positions [begin(), end()) are held.
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

  int slot(int64_t pos) const { return int(pos % capacity_); }

  // The first position a query at `pos` attends to.
  int64_t first_visible(int64_t pos) const { return first_visible(pos, window_); }
  static int64_t first_visible(int64_t pos, int window) {
    if (window == 0) return 0;
    return pos - window + 1 > 0 ? pos - window + 1 : 0;
  }

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
  int window_, capacity_;
  int64_t begin_ = 0, end_ = 0;
};

// The tokens of one forward step and where they go: token t sits at position pos + t,
// and its key and value go to slot (pos + t) mod capacity. The caller guarantees that
// the cache still holds every earlier position these tokens attend to.
struct Batch {
  const int* tokens = nullptr;
  int n = 0;
  int64_t pos = 0;
};

// One session's keys and values on a backend, and the forward steps that read and
// write them. A backend's forward pass always runs against one such cache, so the steps
// are called through it: each backend reaches its own storage without a cast.
//   CPU:  engine/cpu_backend.cpp (f32 or f16 slots in host memory, cpu/kv_buffer.h)
//   CUDA: cuda/engine_backend.cu (f16 slots on the device, cuda/forward.h)
class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int capacity() const = 0;

  // The most tokens the session runs in one forward step while a cancel flag may stop
  // it, so that a cancelled or preempted prefill stops within one such step: 64 by
  // default (a few milliseconds on the CPU). A backend whose steps cost little per
  // chunk but much per call (the GPU) returns more.
  virtual int preemption_batch() const { return kPreemptionBatch; }
  static constexpr int kPreemptionBatch = 64;

  // The most tokens a forward step runs at about the cost of one token's step, or 0
  // where cost grows smoothly with the tokens (CPU). Speculation keeps a verification
  // (the pick and its drafts) within it. CUDA: the decode kernels' row count (8); one
  // row more takes the chunk path (16 rows of the 7B shape: 1.5× an 8-row step in
  // Q4_K_M, 1.2× in Q8_0 on an H100, bench/results-cuda.md); 1 for a mixture of experts,
  // whose rows read different experts (no drafts).
  virtual int single_step_batch() const { return 0; }

  // Runs batch.n tokens (n ≤ the chunk the cache was made for) through the model and
  // writes their keys and values. logits (host memory) receives [n][vocab] when
  // all_rows, else the last token's [vocab]. Calls on caches of one backend take turns.
  virtual void forward(const Batch& batch, float* logits, bool all_rows) = 0;

  // Optional fast path for greedy decoding: runs one token at position `pos` as
  // forward() would and writes the argmax of its logits (lowest id on ties, as
  // Sampler's greedy pick) to *next without copying the logits to the host. Returns
  // false, having done nothing, where the backend has no such path; callers then use
  // forward(). CUDA: a decode step captured once per cache as a graph.
  virtual bool decode_greedy(int token, int64_t pos, int* next) {
    (void)token, (void)pos, (void)next;
    return false;
  }

  // The logits [vocab] after the last token that decode_greedy ran (host memory). Only
  // called after decode_greedy returned true, before any other call on the cache.
  virtual void read_last_logits(float* logits);

 protected:
  KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
};

}  // namespace tramontane
