// Token healing's parts (engine/heal.h): which tokens the mask lets through for a healed
// text, the errors for tokens that cannot be healed, and the stream decoder's skip of
// the healed text. The engine-level behaviour, on the demo model, is test/healing.test.ts.
#include "heal.h"

#include <cmath>
#include <string>
#include <vector>

#include "harness.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using tramontane::HealMask;
using tramontane::Tokenizer;

namespace {

std::string show(const std::string& s) { return "\"" + s + "\""; }

// A tokenizer.json whose pieces share prefixes: "a", "ab", "abc", "b", "c", "▁", "▁a",
// "\"", "\");" after the three control tokens.
std::unique_ptr<Tokenizer> prefix_tokenizer() {
  return Tokenizer::from_bytes(
      harness::bpe_tokenizer_json("\"a\": 3, \"ab\": 4, \"abc\": 5, \"b\": 6, \"c\": 7, \"\u2581\": 8, "
                                  "\"\u2581a\": 9, \"\\\"\": 10, \"\\\");\": 11"),
      "tokenizer.json");
}

// The ids the mask lets through for `text`.
std::vector<int> allowed(const HealMask& mask, const std::string& text, int vocab) {
  std::vector<float> logits(static_cast<size_t>(vocab), 1.f);
  std::vector<float> out(logits.size());
  mask.apply(text, logits.data(), out.data());
  std::vector<int> ids;
  for (int id = 0; id < vocab; ++id) {
    if (out[size_t(id)] == 1.f) ids.push_back(id);
    else CHECK(std::isinf(out[size_t(id)]) && out[size_t(id)] < 0);
  }
  return ids;
}

std::string show(const std::vector<int>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace

TEST(the_mask_lets_through_the_tokens_that_begin_with_the_healed_text) {
  auto t = prefix_tokenizer();
  HealMask mask(*t);
  const int v = t->vocab_size();
  CHECK_EQ(mask.text_of(t->token_id("a")), std::string("a"));
  CHECK_EQ(mask.text_of(t->token_id("\u2581a")), std::string(" a"));
  CHECK_EQ(allowed(mask, "a", v), (std::vector<int>{3, 4, 5}));
  CHECK_EQ(allowed(mask, "ab", v), (std::vector<int>{4, 5}));
  CHECK_EQ(allowed(mask, " ", v), (std::vector<int>{8, 9}));
  CHECK_EQ(allowed(mask, "\"", v), (std::vector<int>{10, 11}));
  // A token shorter than the text does not begin with it; control tokens never pass.
  CHECK_EQ(allowed(mask, "abc", v), (std::vector<int>{5}));
}

TEST(control_tokens_and_ids_out_of_range_cannot_be_healed) {
  auto t = prefix_tokenizer();
  HealMask mask(*t);
  EXPECT_ERROR(mask.text_of(1), "heal token 1", "control token");
  EXPECT_ERROR(mask.text_of(t->vocab_size()), "out of range");
  EXPECT_ERROR(mask.text_of(-2), "out of range");
}

TEST(the_stream_decoder_skips_the_healed_text) {
  auto t = prefix_tokenizer();
  {
    Tokenizer::StreamDecoder s(*t, false);
    s.skip(1);  // "a" healed: "abc" shows as "bc"
    CHECK_EQ(s.push(t->token_id("abc")), std::string("bc"));
    CHECK_EQ(s.push(t->token_id("a")), std::string("a"));
  }
  {
    Tokenizer::StreamDecoder s(*t, false);
    s.skip(2);  // more than the first token: the rest comes off the next one
    CHECK_EQ(s.push(t->token_id("a")), std::string(""));
    CHECK_EQ(s.push(t->token_id("abc")), std::string("bc"));
  }
  {
    // At the start of a text the leading space would go; healed, it is the healed text.
    Tokenizer::StreamDecoder s(*t, true);
    s.skip(1);
    CHECK_EQ(s.push(t->token_id("\u2581a")), std::string("a"));
    CHECK_EQ(s.push(t->token_id("\u2581a")), std::string(" a"));
  }
}

int main() { return harness::run_all(); }
