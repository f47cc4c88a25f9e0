// Byte-pair merging over a sequence of symbol ids: the core of both
// SentencePiece's BPE (a pair may merge when its concatenation is a piece; higher
// score first) and HF tokenizers' BPE (a pair may merge when it is in the merges
// list; earlier first). Both reduce to: repeatedly apply the available merge of
// lowest rank, and among equal ranks the leftmost one.
//
// Symbols sit in a doubly linked list. In a long run, candidate merges of adjacent
// symbols wait in a binary heap ordered by (rank, position) and are checked when
// popped (a merge invalidates its neighbours' candidates): O(n log n) in the number
// of symbols. A short run (a word, usually) just scans its few pairs for the best
// one, which is cheaper at that size. Pair lookups go through a small per-thread
// cache in front of the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tramontane::bpe {

// What merging an ordered pair of symbols gives.
struct Merge {
  uint32_t rank = 0;   // lower merges first
  int32_t result = 0;  // the merged symbol's id
};

// Hash map from an ordered pair of symbol ids to its merge: open addressing, key
// and merge in one 16-byte slot so a lookup touches one cache line. Pairs of up to
// 128 chosen ids (the single characters of ASCII text, say) also live in a dense
// matrix, which stays in cache where the table's megabytes do not.
class PairTable {
 public:
  // Adds or replaces (a pair inserted twice keeps the later merge).
  void insert(int32_t left, int32_t right, Merge merge);
  // Chooses the ids whose pairs go in the dense matrix (at most kDense; others are ignored).
  void set_dense(const std::vector<int32_t>& ids);

  const Merge* find(int32_t left, int32_t right) const {
    if (static_cast<uint32_t>(left) < dense_index_.size() && static_cast<uint32_t>(right) < dense_index_.size()) {
      const uint8_t a = dense_index_[left], b = dense_index_[right];
      if (a != kNotDense && b != kNotDense) {
        const Merge& m = dense_[a * kDense + b];
        return m.rank != kNoRank ? &m : nullptr;
      }
    }
    if (slots_.empty()) return nullptr;
    const uint64_t k = key(left, right);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == k) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return count_; }
  // Changes whenever the table does; identifies its contents in per-thread caches.
  uint64_t version() const { return version_; }

  static uint64_t key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static uint64_t hash(uint64_t k) { return k * 0x9E3779B97F4A7C15ull; }

  static constexpr size_t kDense = 128;
  static constexpr uint32_t kNoRank = ~uint32_t{0};

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static constexpr uint8_t kNotDense = 0xFF;
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge;
  };
  size_t slot(uint64_t k) const { return static_cast<size_t>(hash(k) >> shift_) & mask_; }
  void grow();

  std::vector<Slot> slots_;
  uint64_t version_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t count_ = 0;
  std::vector<uint8_t> dense_index_;  // id → row/column, kNotDense for most
  std::vector<Merge> dense_;          // kDense × kDense
};

// How a merged symbol was formed, kept only when asked for (SentencePiece splits
// pieces of type UNUSED back into the symbols they were merged from).
struct Trace {
  struct Node {
    int32_t id;
    int32_t left;   // node index, -1 for an initial symbol
    int32_t right;  // node index, -1 for an initial symbol
  };
  std::vector<Node> nodes;
  std::vector<int32_t> roots;  // one node per output symbol, parallel to the ids
};

class Merger {
 public:
  // `mergeable[id]` is nonzero for ids that appear in at least one pair; other ids
  // can never merge and split the sequence into independent runs. Both references
  // must outlive the Merger.
  Merger(const PairTable& pairs, const std::vector<uint8_t>& mergeable)
      : pairs_(pairs), mergeable_(mergeable) {}

  // Merges `ids` in place. When `trace` is given it is filled for the output.
  void merge(std::vector<int32_t>& ids, Trace* trace = nullptr) const;

 private:
  bool mergeable(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < mergeable_.size() && mergeable_[id];
  }

  const PairTable& pairs_;
  const std::vector<uint8_t>& mergeable_;
};

}  // namespace tramontane::bpe
