#include "bpe.h"

#include <algorithm>
#include <array>
#include <atomic>

namespace tramontane::bpe {

namespace {
std::atomic<uint64_t> table_versions{0};
}

void PairTable::set_dense(const std::vector<int32_t>& ids) {
  version_ = ++table_versions;
  dense_index_.clear();
  dense_.assign(kDense * kDense, Merge{kNoRank, -1});
  int32_t max_id = -1;
  for (size_t i = 0; i < ids.size() && i < kDense; ++i) max_id = std::max(max_id, ids[i]);
  dense_index_.assign(static_cast<size_t>(max_id + 1), kNotDense);
  for (size_t i = 0; i < ids.size() && i < kDense; ++i) {
    if (ids[i] >= 0 && dense_index_[ids[i]] == kNotDense) dense_index_[ids[i]] = static_cast<uint8_t>(i);
  }
  // Copy in what the table already holds for those pairs.
  for (const Slot& s : slots_) {
    if (s.key == kEmpty) continue;
    const uint32_t l = static_cast<uint32_t>(s.key >> 32), r = static_cast<uint32_t>(s.key & 0xFFFFFFFFu);
    if (l < dense_index_.size() && r < dense_index_.size() && dense_index_[l] != kNotDense && dense_index_[r] != kNotDense) {
      dense_[dense_index_[l] * kDense + dense_index_[r]] = s.merge;
    }
  }
}

void PairTable::insert(int32_t left, int32_t right, Merge merge) {
  version_ = ++table_versions;
  const uint32_t l = static_cast<uint32_t>(left), r = static_cast<uint32_t>(right);
  if (l < dense_index_.size() && r < dense_index_.size() && dense_index_[l] != kNotDense && dense_index_[r] != kNotDense) {
    dense_[dense_index_[l] * kDense + dense_index_[r]] = merge;
  }
  if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) grow();
  const uint64_t k = key(left, right);
  for (size_t i = slot(k);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == k) {
      s.merge = merge;
      return;
    }
    if (s.key == kEmpty) {
      s.key = k;
      s.merge = merge;
      ++count_;
      return;
    }
  }
}

void PairTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64;
  for (size_t c = capacity; c > 1; c >>= 1) --shift_;
  count_ = 0;
  for (const Slot& s : old) {
    if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.merge);
  }
}

namespace {

// A small direct-mapped cache of pair lookups, absent pairs included. Merging
// source code looks up the same few thousand pairs again and again; this keeps
// them in L1/L2 instead of the table's megabytes.
class FrontCache {
 public:
  const Merge* find(const PairTable& table, int32_t left, int32_t right) {
    if (owner_ != table.version()) {
      for (Entry& e : entries_) e.key = kNone;
      owner_ = table.version();
    }
    const uint64_t k = PairTable::key(left, right);
    Entry& e = entries_[(PairTable::hash(k) >> 52) & (kSize - 1)];
    if (e.key != k) {
      const Merge* m = table.find(left, right);
      e.key = k;
      e.merge = m ? *m : Merge{PairTable::kNoRank, -1};
    }
    return e.merge.rank != PairTable::kNoRank ? &e.merge : nullptr;
  }

 private:
  static constexpr size_t kSize = 4096;
  static constexpr uint64_t kNone = ~uint64_t{0};
  struct Entry {
    uint64_t key = kNone;
    Merge merge;
  };
  uint64_t owner_ = 0;
  std::array<Entry, kSize> entries_;
};

constexpr uint32_t kNoMerge = ~uint32_t{0};

// Symbols of one run, as parallel arrays indexed by the symbol's initial position
// (a merged symbol keeps its left part's position).
struct Run {
  std::vector<int32_t> id;     // -1 once merged into its left neighbour
  std::vector<int32_t> prev;   // -1 at the start
  std::vector<int32_t> next;   // -1 at the end
  std::vector<int32_t> size;   // initial symbols it covers
  std::vector<int32_t> node;   // Trace node, when tracing
  std::vector<uint32_t> rank;  // short runs: rank of the pair (k, next[k]), kNoMerge if none
  std::vector<int32_t> result; // short runs: what that pair merges into

  void reset(const int32_t* ids, int32_t n) {
    id.assign(ids, ids + n);
    prev.resize(n);
    next.resize(n);
    size.assign(n, 1);
    for (int32_t k = 0; k < n; ++k) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
  }
};

// A queued merge of the symbol at `left` with its neighbour `right`: ordered by
// (rank, left) packed in one key; still valid when both symbols are alive and
// together cover `size` initial symbols (either one growing means it merged with
// something else first — SentencePiece checks its queue the same way).
struct Candidate {
  uint64_t key;  // rank << 32 | left
  int32_t right;
  int32_t size;
};

struct Scratch {
  Run run;
  std::vector<Candidate> heap;
  FrontCache front;
};

// Binary min-heap on Candidate::key.
void heap_push(std::vector<Candidate>& heap, Candidate c) {
  size_t i = heap.size();
  heap.push_back(c);
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap[parent].key <= c.key) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = c;
}

Candidate heap_pop(std::vector<Candidate>& heap) {
  const Candidate top = heap[0];
  const Candidate last = heap.back();
  heap.pop_back();
  const size_t n = heap.size();
  if (n == 0) return top;
  size_t i = 0;
  while (true) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1].key < heap[child].key) ++child;
    if (last.key <= heap[child].key) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

// Runs up to this many symbols find their next merge by scanning (no heap).
constexpr int32_t kShortRun = 40;

}  // namespace

void Merger::merge(std::vector<int32_t>& ids, Trace* trace) const {
  thread_local Scratch scratch;
  Run& run = scratch.run;
  FrontCache& front = scratch.front;
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
  // Merges symbol l with its right neighbour r into `result`.
  auto apply = [&](int32_t l, int32_t r, int32_t result) {
    run.id[l] = result;
    run.size[l] += run.size[r];
    run.next[l] = run.next[r];
    if (run.next[r] >= 0) run.prev[run.next[r]] = l;
    run.id[r] = -1;
    if (trace) {
      const int32_t node = static_cast<int32_t>(trace->nodes.size());
      trace->nodes.push_back({result, run.node[l], run.node[r]});
      run.node[l] = node;
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
    run.reset(ids.data() + i, len);
    if (trace) {
      run.node.resize(len);
      for (int32_t k = 0; k < len; ++k) {
        run.node[k] = static_cast<int32_t>(trace->nodes.size());
        trace->nodes.push_back({ids[i + k], -1, -1});
      }
    }

    if (len <= kShortRun) {
      // Scan for the lowest rank; the first one found is the leftmost.
      run.rank.resize(len);
      run.result.resize(len);
      auto refresh = [&](int32_t k) {
        const int32_t r = run.next[k];
        const Merge* m = r >= 0 ? front.find(pairs_, run.id[k], run.id[r]) : nullptr;
        run.rank[k] = m ? m->rank : kNoMerge;
        run.result[k] = m ? m->result : -1;
      };
      for (int32_t k = 0; k < len; ++k) refresh(k);
      while (true) {
        int32_t best = -1;
        uint32_t best_rank = kNoMerge;
        for (int32_t k = 0; k >= 0; k = run.next[k]) {
          if (run.rank[k] < best_rank) {
            best_rank = run.rank[k];
            best = k;
          }
        }
        if (best < 0) break;
        apply(best, run.next[best], run.result[best]);
        refresh(best);
        if (run.prev[best] >= 0) refresh(run.prev[best]);
      }
    } else {
      heap.clear();
      auto consider = [&](int32_t l, int32_t r) {
        const Merge* m = front.find(pairs_, run.id[l], run.id[r]);
        if (m) heap_push(heap, {static_cast<uint64_t>(m->rank) << 32 | static_cast<uint32_t>(l), r, run.size[l] + run.size[r]});
      };
      for (int32_t k = 0; k + 1 < len; ++k) consider(k, k + 1);
      while (!heap.empty()) {
        const Candidate c = heap_pop(heap);
        const int32_t l = static_cast<int32_t>(c.key & 0xFFFFFFFFu);
        const int32_t r = c.right;
        if (run.id[l] < 0 || run.id[r] < 0 || run.size[l] + run.size[r] != c.size) continue;
        apply(l, r, front.find(pairs_, run.id[l], run.id[r])->result);
        if (run.prev[l] >= 0) consider(run.prev[l], l);
        if (run.next[l] >= 0) consider(l, run.next[l]);
      }
    }

    for (int32_t k = 0; k >= 0; k = run.next[k]) {
      ids[write++] = run.id[k];
      if (trace) trace->roots.push_back(run.node[k]);
    }
    i = end;
  }
  ids.resize(write);
}

}  // namespace tramontane::bpe
