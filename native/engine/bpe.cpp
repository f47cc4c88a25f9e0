#include "bpe.h"

#include <algorithm>

namespace tramontane::bpe {

void PairTable::insert(int32_t left, int32_t right, Merge merge) {
  if (keys_.empty() || (count_ + 1) * 2 > keys_.size()) grow();
  const uint64_t k = key(left, right);
  for (size_t i = slot(k);; i = (i + 1) & mask_) {
    if (keys_[i] == k) {
      merges_[i] = merge;
      return;
    }
    if (keys_[i] == kEmpty) {
      keys_[i] = k;
      merges_[i] = merge;
      ++count_;
      return;
    }
  }
}

void PairTable::grow() {
  std::vector<uint64_t> old_keys = std::move(keys_);
  std::vector<Merge> old_merges = std::move(merges_);
  const size_t capacity = old_keys.empty() ? 1024 : old_keys.size() * 2;
  keys_.assign(capacity, kEmpty);
  merges_.assign(capacity, Merge{});
  mask_ = capacity - 1;
  shift_ = 64;
  for (size_t c = capacity; c > 1; c >>= 1) --shift_;
  count_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] == kEmpty) continue;
    insert(static_cast<int32_t>(old_keys[i] >> 32), static_cast<int32_t>(old_keys[i] & 0xFFFFFFFFu), old_merges[i]);
  }
}

namespace {

struct Symbol {
  int32_t id;    // -1 once merged into its left neighbour
  int32_t prev;  // index in the run, -1 at the start
  int32_t next;  // index in the run, -1 at the end
  int32_t node;  // Trace node, when tracing
};

// A possible merge of symbols[left] and symbols[right], valid while both still
// hold the ids they had when it was queued and are still neighbours.
struct Candidate {
  uint32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

// std::push_heap keeps the "largest" on top: the lowest rank, then the leftmost.
struct Later {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

}  // namespace

void Merger::merge(std::vector<int32_t>& ids, Trace* trace) const {
  thread_local Scratch scratch;
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Candidate>& heap = scratch.heap;
  if (trace) {
    trace->nodes.clear();
    trace->roots.clear();
  }

  const size_t n = ids.size();
  size_t write = 0;  // output goes back into `ids`; it never overtakes the input
  auto emit_initial = [&](int32_t id) {
    ids[write++] = id;
    if (trace) {
      trace->roots.push_back(static_cast<int32_t>(trace->nodes.size()));
      trace->nodes.push_back({id, -1, -1});
    }
  };

  size_t i = 0;
  while (i < n) {
    if (!mergeable(ids[i])) {
      emit_initial(ids[i++]);
      continue;
    }
    size_t end = i + 1;
    while (end < n && mergeable(ids[end])) ++end;
    if (end - i == 1) {
      emit_initial(ids[i++]);
      continue;
    }

    // One run of symbols that may merge with each other.
    const int32_t len = static_cast<int32_t>(end - i);
    symbols.resize(len);
    for (int32_t k = 0; k < len; ++k) {
      int32_t node = -1;
      if (trace) {
        node = static_cast<int32_t>(trace->nodes.size());
        trace->nodes.push_back({ids[i + k], -1, -1});
      }
      symbols[k] = {ids[i + k], k - 1, k + 1 < len ? k + 1 : -1, node};
    }
    heap.clear();
    auto consider = [&](int32_t left, int32_t right) {
      const Merge* m = pairs_.find(symbols[left].id, symbols[right].id);
      if (!m) return;
      heap.push_back({m->rank, left, right, symbols[left].id, symbols[right].id, m->result});
      std::push_heap(heap.begin(), heap.end(), Later{});
    };
    for (int32_t k = 0; k + 1 < len; ++k) consider(k, k + 1);

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), Later{});
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& l = symbols[c.left];
      if (l.id != c.left_id || l.next != c.right) continue;
      Symbol& r = symbols[c.right];
      if (r.id != c.right_id) continue;

      l.id = c.result;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = c.left;
      r.id = -1;
      if (trace) {
        const int32_t node = static_cast<int32_t>(trace->nodes.size());
        trace->nodes.push_back({c.result, l.node, r.node});
        l.node = node;
      }
      if (l.prev >= 0) consider(l.prev, c.left);
      if (l.next >= 0) consider(c.left, l.next);
    }

    for (int32_t k = 0; k >= 0; k = symbols[k].next) {
      ids[write++] = symbols[k].id;
      if (trace) trace->roots.push_back(symbols[k].node);
    }
    i = end;
  }
  ids.resize(write);
}

}  // namespace tramontane::bpe
