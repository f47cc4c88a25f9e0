#include "draft.h"

#include <algorithm>

namespace tramontane {

PromptLookup::PromptLookup(int min_ngram, int max_ngram)
    : min_ngram_(std::max(1, min_ngram)),
      max_ngram_(std::max(min_ngram_, max_ngram)),
      last_end_(size_t(max_ngram_ - min_ngram_ + 1)) {}

uint64_t PromptLookup::key(const int* ngram, int n) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the ids' bytes
  for (int i = 0; i < n; ++i) {
    uint32_t v = uint32_t(ngram[i]);
    for (int b = 0; b < 4; ++b, v >>= 8) h = (h ^ (v & 0xff)) * 0x100000001b3ull;
  }
  return h;
}

void PromptLookup::index_until(const std::vector<int>& tokens, size_t end) {
  // Forget what no longer matches (a rollback), then index the n-grams ending at
  // positions seen_.size() .. end − 1.
  size_t common = 0;
  const size_t limit = std::min(seen_.size(), end);
  while (common < limit && seen_[common] == tokens[common]) ++common;
  seen_.resize(common);
  for (size_t e = common; e < end; ++e) {
    for (int n = min_ngram_; n <= max_ngram_ && size_t(n) <= e + 1; ++n) {
      last_end_[size_t(n - min_ngram_)][key(&tokens[e + 1 - size_t(n)], n)] = int64_t(e);
    }
    seen_.push_back(tokens[e]);
  }
}

std::vector<int> PromptLookup::draft(const std::vector<int>& tokens, int max_draft) {
  const size_t length = tokens.size();
  if (max_draft < 1 || length < size_t(min_ngram_) + 1) return {};
  // Occurrences must end before the suffix's own last token, so that at least one
  // token follows them.
  index_until(tokens, length - 1);
  for (int n = std::min<int>(max_ngram_, int(length) - 1); n >= min_ngram_; --n) {
    const int* suffix = &tokens[length - size_t(n)];
    const auto& map = last_end_[size_t(n - min_ngram_)];
    const auto hit = map.find(key(suffix, n));
    if (hit == map.end()) continue;
    const int64_t e = hit->second;
    // Stale after a rollback, or a hash collision: check the tokens themselves.
    if (e + 1 >= int64_t(length) || e + 1 < n ||
        !std::equal(suffix, suffix + n, &tokens[size_t(e + 1 - n)])) {
      continue;
    }
    const size_t from = size_t(e + 1);
    const size_t to = std::min(length, from + size_t(max_draft));
    return std::vector<int>(tokens.begin() + std::ptrdiff_t(from), tokens.begin() + std::ptrdiff_t(to));
  }
  return {};
}

void DraftLength::update(int drafted, int accepted) {
  if (drafted <= 0) return;
  if (accepted >= drafted) {
    len_ = std::min(max_, len_ * 2);  // every draft was right: try longer ones
  } else {
    len_ = std::max(min_, accepted + 1);  // the next draft covers what was right, plus one
  }
}

}  // namespace tramontane
