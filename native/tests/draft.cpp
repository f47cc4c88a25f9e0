// Prompt-lookup drafting (engine/draft.h): the worked example, latest occurrence first,
// rollback re-indexing, and the adaptive draft length.
#include "draft.h"

#include <random>

#include "harness.h"

using tramontane::DraftLength;
using tramontane::PromptLookup;

static std::string show(int v) { return std::to_string(v); }

enum : int { a = 10, b, c, d, e, x, y };

TEST(drafts_follow_the_worked_example) {
  PromptLookup lookup(2, 3);
  // x b c never occurred before; b c did, followed by d e x.
  CHECK((lookup.draft({a, b, c, d, e, x, b, c}, 8) == std::vector<int>{d, e, x, b, c}));
  CHECK((lookup.draft({a, b, c, d, e, x, b, c}, 2) == std::vector<int>{d, e}));
}

TEST(no_match_gives_no_draft) {
  PromptLookup lookup(2, 4);
  CHECK(lookup.draft({a, b, c, d, e, x}, 8).empty());
  CHECK(lookup.draft({a}, 8).empty());
  CHECK(lookup.draft({}, 8).empty());
  CHECK(lookup.draft({a, b, a, b}, 0).empty());
}

TEST(the_longest_suffix_wins_over_a_later_shorter_one) {
  PromptLookup lookup(2, 3);
  // "a b c" is followed by d; the later "b c" by y. The 3-gram match is tried first.
  CHECK((lookup.draft({a, b, c, d, x, b, c, y, a, b, c}, 1) == std::vector<int>{d}));
}

TEST(the_latest_occurrence_wins) {
  PromptLookup lookup(2, 2);
  CHECK((lookup.draft({a, b, c, x, a, b, d, y, a, b}, 2) == std::vector<int>{d, y}));
}

TEST(incremental_calls_equal_a_fresh_lookup) {
  std::mt19937 rng(7);
  std::vector<int> tokens;
  PromptLookup incremental(2, 4);
  for (int i = 0; i < 400; ++i) {
    tokens.push_back(int(rng() % 6));  // a small alphabet, so matches are common
    PromptLookup fresh(2, 4);
    CHECK(incremental.draft(tokens, 5) == fresh.draft(tokens, 5));
  }
}

TEST(a_rollback_re_indexes_and_never_drafts_from_dropped_tokens) {
  PromptLookup lookup(2, 2);
  CHECK((lookup.draft({a, b, c, d, a, b}, 2) == std::vector<int>{c, d}));
  // The sequence is cut back and continues differently: "c d" is gone.
  CHECK(lookup.draft({a, b, x, y, e, x}, 2).empty());
  CHECK((lookup.draft({a, b, x, y, e, a, b}, 2) == std::vector<int>{x, y}));
  PromptLookup fresh(2, 2);
  CHECK(lookup.draft({a, b, x, y, e, x, y}, 3) == fresh.draft({a, b, x, y, e, x, y}, 3));
}

TEST(draft_length_grows_on_success_and_shrinks_on_misses) {
  DraftLength length(1, 8);
  CHECK_EQ(length.next(), 1);
  length.update(1, 1);
  CHECK_EQ(length.next(), 2);
  length.update(2, 2);
  length.update(4, 4);
  CHECK_EQ(length.next(), 8);
  length.update(8, 8);
  CHECK_EQ(length.next(), 8);  // capped
  length.update(8, 3);
  CHECK_EQ(length.next(), 4);  // what was right, plus one
  length.update(4, 0);
  CHECK_EQ(length.next(), 1);
  length.update(0, 0);  // nothing drafted: no change
  CHECK_EQ(length.next(), 1);
}

int main() { return harness::run_all(); }
