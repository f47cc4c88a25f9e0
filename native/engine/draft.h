// Drafting tokens from the context itself (prompt lookup): code repeats what is already
// in the prompt or was just generated, so the tokens that followed an earlier occurrence
// of the sequence's last few tokens are a good guess at what comes next. A drafted token
// costs nothing when the model agrees with it: the session verifies all drafts in one
// forward pass and keeps the longest prefix the model itself would have picked.
//
// Worked example (max_ngram = 3, min_ngram = 2), tokens so far:
//
//     index:   0  1  2  3  4  5  6  7  8
//     token:   a  b  c  d  e  x  b  c  ?
//
// The last 3 tokens (x b c) never occurred before; the last 2 (b c) did, at 1..2, and
// were followed by d e x: the draft is d e x (up to the length asked for). Had "b c"
// occurred twice, the latest occurrence wins: nearby text predicts best.
//
// The index maps each n-gram (min_ngram ≤ n ≤ max_ngram) to the latest position it
// ended at, updated as tokens are appended (O(max_ngram) per token). After a rollback
// some entries point past the end or at n-grams since overwritten; each hit is
// re-checked against the tokens, so a stale entry only costs a missed draft, never a
// wrong one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace tramontane {

class PromptLookup {
 public:
  explicit PromptLookup(int min_ngram = 2, int max_ngram = 4);

  // Up to max_draft tokens that followed the latest earlier occurrence of the longest
  // suffix of `tokens` (between max_ngram and min_ngram long); empty when none matches.
  // `tokens` is the whole sequence; only the part not seen by a previous call is
  // indexed, and a sequence that no longer extends the previous one is re-indexed.
  std::vector<int> draft(const std::vector<int>& tokens, int max_draft);

 private:
  void index_until(const std::vector<int>& tokens, size_t end);
  static uint64_t key(const int* ngram, int n);

  int min_ngram_, max_ngram_;
  std::vector<std::unordered_map<uint64_t, int64_t>> last_end_;  // [n − min_ngram]
  std::vector<int> seen_;  // the tokens indexed so far
};

// How many tokens to draft next, from how many of the recent drafts were accepted:
// grows while drafts are accepted, shrinks when they are rejected, so text that cannot
// be drafted pays for at most a short draft now and then.
class DraftLength {
 public:
  DraftLength(int min_len = 2, int max_len = 8) : min_(min_len), max_(max_len), len_(min_len) {}
  int next() const { return len_; }
  void update(int drafted, int accepted);

 private:
  int min_, max_, len_;
};

}  // namespace tramontane
