// Tokenizer tests at the C++ level: small SentencePiece models and tokenizer.json
// files written by the test itself, so each rule of the format is checked on a case
// built to exercise it; corrupt files; the streaming decoder.
//
//   test-tokenizer [TOKENIZERS_DIR]
//
// With TOKENIZERS_DIR (the output of scripts/make-tokenizers.mjs) it also checks the
// real v1 and v3 vocabularies: control tokens, and that tokenizer.json and
// tokenizer.model agree. Prints "N passed, M failed"; exits 1 on failure.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "harness.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using tramontane::Error;
using tramontane::Tokenizer;

namespace {

std::string g_tokenizers_dir;

using harness::report_failure;
using harness::TempDir;

// show() prints CHECK_EQ operands when a comparison fails.
std::string show(const std::vector<int>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

std::string show(const std::string& text) {
  std::string s = "\"";
  for (unsigned char c : text) {
    if (c == '\n') s += "\\n";
    else if (c < 0x20 || c >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      s += buf;
    } else s += static_cast<char>(c);
  }
  return s + "\"";
}

// ---------------------------------------------------------------------------
// Writing SentencePiece models: the protobuf wire format by hand.

std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t byte = v & 0x7F;
    v >>= 7;
    if (v) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v);
  return out;
}
std::string key(int field, int wire) { return varint(static_cast<uint64_t>(field) << 3 | wire); }
std::string int_field(int field, int64_t v) { return key(field, 0) + varint(static_cast<uint64_t>(v)); }
std::string bytes_field(int field, const std::string& b) { return key(field, 2) + varint(b.size()) + b; }
std::string float_field(int field, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string out = key(field, 5);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(bits >> (8 * i)));
  return out;
}

enum Type { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

struct SpmPiece {
  std::string piece;
  float score;
  int type;
};

struct SpmOptions {
  int model_type = 2;  // BPE
  bool byte_fallback = true;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
  std::string normalizer = "identity";
  int bos = 1, eos = 2, unk = 0;
};

std::string spm_model(const std::vector<SpmPiece>& pieces, const SpmOptions& o = {}) {
  std::string out;
  for (const SpmPiece& p : pieces) {
    std::string body = bytes_field(1, p.piece) + float_field(2, p.score);
    if (p.type != NORMAL) body += int_field(3, p.type);
    out += bytes_field(1, body);
  }
  const std::string trainer = int_field(3, o.model_type) + int_field(35, o.byte_fallback) + int_field(40, o.unk) +
                              int_field(41, o.bos) + int_field(42, o.eos) + int_field(43, -1);
  out += bytes_field(2, trainer);
  const std::string normalizer = bytes_field(1, o.normalizer) + int_field(3, o.add_dummy_prefix) +
                                 int_field(4, o.remove_extra_whitespaces) + int_field(5, 1);
  out += bytes_field(3, normalizer);
  return out;
}

const std::string kMeta = "\xE2\x96\x81";  // ▁

std::string byte_piece(int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

// <unk> <s> </s>, then the 256 byte pieces (ids 3..258), then `normal`.
std::vector<SpmPiece> with_specials(const std::vector<SpmPiece>& normal, bool bytes = true) {
  std::vector<SpmPiece> pieces = {{"<unk>", 0, UNKNOWN}, {"<s>", 0, CONTROL}, {"</s>", 0, CONTROL}};
  if (bytes) {
    for (int b = 0; b < 256; ++b) pieces.push_back({byte_piece(b), 0, BYTE});
  }
  pieces.insert(pieces.end(), normal.begin(), normal.end());
  return pieces;
}

std::unique_ptr<Tokenizer> load_spm(const TempDir& dir, const std::vector<SpmPiece>& pieces, const SpmOptions& o = {}) {
  return Tokenizer::load(dir.write("tokenizer.model", spm_model(pieces, o)));
}

std::vector<std::string> pieces_of(const Tokenizer& t, const std::vector<int>& ids) {
  std::vector<std::string> out;
  for (int id : ids) out.push_back(t.piece(id));
  return out;
}

std::string show(const std::vector<std::string>& pieces) {
  std::string s = "[";
  for (size_t i = 0; i < pieces.size(); ++i) s += (i ? " " : "") + show(pieces[i]);
  return s + "]";
}

const std::string M = kMeta;  // shorter in tables of pieces

// ---------------------------------------------------------------------------
// SentencePiece semantics

TEST(spm_merges_follow_scores_not_position) {
  TempDir dir;
  // "ab" outranks "bc": "▁abc" → ▁ ab c → ▁ abc.
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"b", -12, NORMAL}, {"c", -13, NORMAL},
                                        {"ab", -1, NORMAL}, {"bc", -2, NORMAL}, {M + "a", -3, NORMAL}, {"abc", -4, NORMAL}}));
  CHECK_EQ(pieces_of(*t, t->encode("abc")), (std::vector<std::string>{M, "abc"}));
  // With "bc" first, "abc" can no longer form ("a"+"bc" is a split of "abc" too, so it does).
  TempDir dir2;
  auto u = load_spm(dir2, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"b", -12, NORMAL}, {"c", -13, NORMAL},
                                         {"ab", -2, NORMAL}, {"bc", -1, NORMAL}, {M + "a", -3, NORMAL}}));
  // ▁ a b c: bc first → ▁ a bc; then ▁a (score -3) → ▁a bc.
  CHECK_EQ(pieces_of(*u, u->encode("abc")), (std::vector<std::string>{M + "a", "bc"}));
}

TEST(spm_equal_scores_merge_leftmost_first) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"aa", -1, NORMAL}}));
  CHECK_EQ(pieces_of(*t, t->encode("aaa")), (std::vector<std::string>{M, "aa", "a"}));
  CHECK_EQ(pieces_of(*t, t->encode("aaaaa")), (std::vector<std::string>{M, "aa", "aa", "a"}));
  // Long runs take the heap path: the same rule.
  std::vector<std::string> expected = {M};
  for (int i = 0; i < 50; ++i) expected.push_back("aa");
  expected.push_back("a");
  CHECK_EQ(pieces_of(*t, t->encode(std::string(101, 'a'))), expected);
}

TEST(spm_byte_fallback_and_decode) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}}));
  // é = C3 A9, 😀 = F0 9F 98 80, \n = 0A
  const std::vector<int> ids = t->encode("a\xC3\xA9\n\xF0\x9F\x98\x80");
  CHECK_EQ(pieces_of(*t, ids), (std::vector<std::string>{M, "a", "<0xC3>", "<0xA9>", "<0x0A>", "<0xF0>", "<0x9F>",
                                                         "<0x98>", "<0x80>"}));
  CHECK_EQ(t->decode(ids), std::string("a\xC3\xA9\n\xF0\x9F\x98\x80"));
  // Leading spaces survive: only the dummy prefix is dropped.
  CHECK_EQ(t->decode(t->encode("  a")), std::string("  a"));
  CHECK_EQ(t->encode(""), std::vector<int>{});
  CHECK_EQ(t->encode("", true), std::vector<int>{1});
  CHECK_EQ(t->encode("a", true), (std::vector<int>{1, t->token_id(M), t->token_id("a")}));
}

TEST(spm_character_inside_pieces_only_merges_before_byte_fallback) {
  TempDir dir;
  // "é" is no piece, but "éa" is: SentencePiece merges characters first and falls
  // back to bytes only for what stays alone.
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"\xC3\xA9" "a", -1, NORMAL}}));
  CHECK_EQ(pieces_of(*t, t->encode("\xC3\xA9" "a")), (std::vector<std::string>{M, "\xC3\xA9" "a"}));
  CHECK_EQ(pieces_of(*t, t->encode("\xC3\xA9")), (std::vector<std::string>{M, "<0xC3>", "<0xA9>"}));
}

TEST(spm_unused_pieces_are_split_back) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"x", -11, NORMAL}, {"y", -12, NORMAL}, {"z", -13, NORMAL},
                                        {"xy", -1, UNUSED}, {"xyz", -2, UNUSED}, {"yz", -3, NORMAL}}));
  // ▁ x y z: xy (unused) merges first, then xyz (unused): split back to x y z.
  CHECK_EQ(pieces_of(*t, t->encode("xyz")), (std::vector<std::string>{M, "x", "y", "z"}));
  // ...which is not the same as never merging: yz never got its chance.
  CHECK_EQ(pieces_of(*t, t->encode("yz")), (std::vector<std::string>{M, "yz"}));
}

TEST(spm_user_defined_pieces_are_matched_in_text) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"b", -12, NORMAL}, {"<tag>", 0, USER_DEFINED},
                                        {"ab", -1, NORMAL}}));
  CHECK_EQ(pieces_of(*t, t->encode("a<tag>b")), (std::vector<std::string>{M, "a", "<tag>", "b"}));
  CHECK_EQ(t->decode(t->encode("a<tag>b")), std::string("a<tag>b"));
}

TEST(spm_control_tokens_only_with_parse_special) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"[C]", 0, CONTROL}}));
  const int c = t->token_id("[C]");
  CHECK(t->is_control(c));
  CHECK(!t->is_control(t->token_id("a")));
  const std::vector<int> plain = t->encode("[C]a");
  CHECK(std::find(plain.begin(), plain.end(), c) == plain.end());
  CHECK_EQ(t->decode(plain), std::string("[C]a"));
  // Parsed: every text segment is encoded on its own, with its own dummy prefix.
  CHECK_EQ(t->encode("[C]a", false, true), (std::vector<int>{c, t->token_id(M), t->token_id("a")}));
  CHECK_EQ(t->encode("a[C]a", false, true),
           (std::vector<int>{t->token_id(M), t->token_id("a"), c, t->token_id(M), t->token_id("a")}));
  // Decoding skips control tokens unless asked; kept, they round-trip.
  // Skipped, only the first dummy prefix goes (as SentencePiece decodes these ids).
  CHECK_EQ(t->decode(t->encode("a[C]a", false, true)), std::string("a a"));
  CHECK_EQ(t->decode(t->encode("a[C]a", false, true), true), std::string("a[C]a"));
  CHECK_EQ(t->decode(t->encode("[C] a", true, true), true), std::string("<s>[C] a"));
}

TEST(spm_normalizer_options) {
  TempDir dir;
  const auto pieces = with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {"b", -12, NORMAL}});
  SpmOptions collapse;
  collapse.remove_extra_whitespaces = true;
  auto t = load_spm(dir, pieces, collapse);
  CHECK_EQ(pieces_of(*t, t->encode("  a   b  ")), (std::vector<std::string>{M, "a", M, "b"}));
  CHECK_EQ(t->encode("   "), std::vector<int>{});
  SpmOptions no_prefix;
  no_prefix.add_dummy_prefix = false;
  TempDir dir2;
  auto u = load_spm(dir2, pieces, no_prefix);
  CHECK_EQ(pieces_of(*u, u->encode("a b")), (std::vector<std::string>{"a", M, "b"}));
  CHECK_EQ(u->decode(u->encode(" a")), std::string(" a"));  // nothing to strip
}

TEST(spm_unknown_without_byte_fallback_is_fused) {
  TempDir dir;
  SpmOptions o;
  o.byte_fallback = false;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}}, false), o);
  CHECK_EQ(t->encode("azzz"), (std::vector<int>{t->token_id(M), t->token_id("a"), 0}));
  CHECK_EQ(t->decode(t->encode("azzz")), std::string("a \xE2\x81\x87 "));
}

TEST(spm_special_ids_and_lookup) {
  TempDir dir;
  SpmOptions o;
  o.bos = 2;
  o.eos = 1;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}}), o);
  CHECK(t->bos_id() == 2 && t->eos_id() == 1);
  CHECK(t->vocab_size() == 3 + 256 + 1);
  CHECK(t->token_id("<0x0A>") == 3 + 10);
  CHECK(t->token_id("nope") == -1);
  CHECK_EQ(t->piece(3 + 10), std::string("<0x0A>"));
  CHECK_EQ(t->token_bytes(3 + 10), std::string("\n"));
  CHECK_EQ(t->token_bytes(t->token_id(M)), std::string(" "));
  CHECK_EQ(t->leading_token_bytes(t->token_id(M)), std::string(""));
  CHECK_EQ(t->token_bytes(1), std::string(""));
  EXPECT_ERROR(t->piece(t->vocab_size()), "out of range");
  EXPECT_ERROR(t->piece(-1), "out of range");
  EXPECT_ERROR(t->decode({5, 99999}), "out of range");
}

// ---------------------------------------------------------------------------
// Corrupt SentencePiece models

TEST(spm_corrupt_files_fail_cleanly) {
  TempDir dir;
  auto load_bytes = [&](const std::string& bytes) { return Tokenizer::load(dir.write("bad.model", bytes)); };
  EXPECT_ERROR(load_bytes(""), "empty");
  EXPECT_ERROR(load_bytes(std::string("\x0A\x80", 2)), "truncated varint");
  EXPECT_ERROR(load_bytes(std::string("\x0A\x05" "a", 3)), "runs past the end");
  EXPECT_ERROR(load_bytes(std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6)), "runs past the end");
  // Field 99 (unknown, skipped) as an 11-byte varint, then as a cut fixed32.
  EXPECT_ERROR(load_bytes(std::string("\x98\x06\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 13)), "varint");
  EXPECT_ERROR(load_bytes(std::string("\x98\x06\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x7F", 12)), "overflows 64 bits");
  EXPECT_ERROR(load_bytes(std::string("\x9D\x06\x01\x02", 4)), "truncated fixed32");
  EXPECT_ERROR(load_bytes(std::string("\x0F", 1)), "wire type");
  EXPECT_ERROR(load_bytes(std::string("\x0B\x0C", 2)), "group");
  EXPECT_ERROR(load_bytes(std::string("\x00\x00", 2)), "field number 0");
  EXPECT_ERROR(load_bytes(bytes_field(2, int_field(3, 2))), "no pieces");
  EXPECT_ERROR(load_bytes(bytes_field(1, bytes_field(1, "a"))), "no trainer_spec");
  // Wire type that does not match the field: piece given as a varint.
  EXPECT_ERROR(load_bytes(int_field(1, 5)), "wire type");

  const auto good = with_specials({{M, -1, NORMAL}, {"a", -2, NORMAL}});
  auto with = [&](std::vector<SpmPiece> pieces, SpmOptions o = {}) { return spm_model(pieces, o); };
  std::vector<SpmPiece> twice = good;
  twice.push_back({"a", -3, NORMAL});
  EXPECT_ERROR(load_bytes(with(twice)), "defined twice");
  std::vector<SpmPiece> empty_piece = good;
  empty_piece.push_back({"", -3, NORMAL});
  EXPECT_ERROR(load_bytes(with(empty_piece)), "empty");
  std::vector<SpmPiece> bad_type = good;
  bad_type.push_back({"q", 0, 9});
  EXPECT_ERROR(load_bytes(with(bad_type)), "unknown piece type 9");
  std::vector<SpmPiece> no_unk(good.begin() + 1, good.end());
  SpmOptions unk_at_control;
  EXPECT_ERROR(load_bytes(with(no_unk, unk_at_control)), "not of type UNKNOWN");
  SpmOptions unigram;
  unigram.model_type = 1;
  EXPECT_ERROR(load_bytes(with(good, unigram)), "UNIGRAM");
  SpmOptions nfkc;
  nfkc.normalizer = "nmt_nfkc";
  EXPECT_ERROR(load_bytes(with(good, nfkc)), "nmt_nfkc");
  SpmOptions no_fallback;
  no_fallback.byte_fallback = false;
  EXPECT_ERROR(load_bytes(with(good, no_fallback)), "byte_fallback");
  SpmOptions bad_bos;
  bad_bos.bos = 100000;
  EXPECT_ERROR(load_bytes(with(good, bad_bos)), "bos_id");
  std::vector<SpmPiece> bad_byte = good;
  bad_byte.push_back({"<0xZZ>", 0, BYTE});
  EXPECT_ERROR(load_bytes(with(bad_byte)), "<0xNN>");
  // Not a protobuf at all.
  EXPECT_ERROR(load_bytes("this is plain text, not a model\n"), "corrupt");
}

TEST(spm_every_truncation_and_many_mutations_fail_cleanly) {
  const std::string good = spm_model(with_specials({{M, -1, NORMAL}, {"a", -2, NORMAL}, {"b", -3, NORMAL},
                                                    {M + "a", -4, NORMAL}, {"[C]", 0, CONTROL}}));
  auto survives = [&](const std::string& bytes) {
    try {
      auto t = Tokenizer::from_bytes(bytes, "m.model");
      // Whatever loaded must work.
      const std::vector<int> ids = t->encode("a b\n\xC3\xA9 [C]", true, true);
      (void)t->decode(ids, true);
      Tokenizer::StreamDecoder s(*t);
      for (int id : ids) s.push(id);
      s.flush();
      return true;
    } catch (const Error& e) {
      return std::string(e.what()).find('\n') == std::string::npos;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  not a tramontane::Error: %s\n", e.what());
      return false;
    }
  };
  int bad = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    if (!survives(good.substr(0, n))) {
      if (++bad <= 3) report_failure(__LINE__, "truncation to " + std::to_string(n) + " bytes");
    }
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::string mutated = good;
    const int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) mutated[rng() % mutated.size()] = static_cast<char>(rng());
    if (!survives(mutated)) {
      if (++bad <= 3) report_failure(__LINE__, "mutation " + std::to_string(i));
    }
  }
  CHECK(bad == 0);
}

// ---------------------------------------------------------------------------
// tokenizer.json

std::string hf_json(const std::string& vocab, const std::string& merges, const std::string& extra = "",
                    const std::string& normalizer = R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]})",
                    const std::string& pre_tokenizer = "null", const std::string& model_extra = "") {
  return R"({"version":"1.0","added_tokens":[{"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true})" +
         extra + R"(],"normalizer":)" + normalizer + R"(,"pre_tokenizer":)" + pre_tokenizer +
         R"(,"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":true)" +
         model_extra + R"(,"vocab":{"<unk>":0,"<s>":1,"</s>":2,"<0x0A>":3,"<0xC3>":4,"<0xA9>":5,)" + vocab +
         R"(},"merges":[)" + merges + "]}}";
}

const std::string kSmallVocab = R"("▁":6,"a":7,"b":8,"c":9,"ab":10,"bc":11,"▁a":12,"abc":13,"▁ab":14,"[C]":15)";

TEST(hf_json_merges_in_both_notations) {
  TempDir dir;
  auto strings = Tokenizer::load(dir.write("s.json", hf_json(kSmallVocab, R"("a b","b c","▁ a","ab c")")));
  auto pairs = Tokenizer::load(dir.write("p.json", hf_json(kSmallVocab, R"(["a","b"],["b","c"],["▁","a"],["ab","c"])")));
  for (const auto* t : {strings.get(), pairs.get()}) {
    CHECK_EQ(pieces_of(*t, t->encode("abc")), (std::vector<std::string>{M, "abc"}));
    CHECK_EQ(pieces_of(*t, t->encode("ab\n\xC3\xA9")), (std::vector<std::string>{M, "ab", "<0x0A>", "<0xC3>", "<0xA9>"}));
    CHECK_EQ(t->decode(t->encode(" abc ab")), std::string(" abc ab"));
  }
  // Merge order decides: "b c" before "a b".
  auto other = Tokenizer::load(dir.write("o.json", hf_json(kSmallVocab, R"("b c","a b","▁ a","ab c")")));
  CHECK_EQ(pieces_of(*other, other->encode("abc")), (std::vector<std::string>{M + "a", "bc"}));
}

TEST(hf_json_duplicate_merge_keeps_the_later_rank) {
  TempDir dir;
  // "a b" listed first and again after "b c": HF tokenizers keeps the later rank.
  auto t = Tokenizer::load(dir.write("d.json", hf_json(kSmallVocab, R"("a b","b c","a b","▁ a")")));
  CHECK_EQ(pieces_of(*t, t->encode("abc")), (std::vector<std::string>{M + "a", "bc"}));
}

TEST(hf_json_metaspace_pre_tokenizer) {
  TempDir dir;
  const std::string first = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})";
  auto t = Tokenizer::load(dir.write("m.json", hf_json(kSmallVocab + R"(,"▁▁":16)", R"("▁ a","a b","▁ ▁")",
                                                        R"(,{"id":15,"content":"[C]","special":true})", "null", first)));
  // Metaspace adds no "▁" where the text already starts with a space.
  CHECK_EQ(pieces_of(*t, t->encode("ab")), (std::vector<std::string>{M + "a", "b"}));
  CHECK_EQ(pieces_of(*t, t->encode(" ab")), (std::vector<std::string>{M + "a", "b"}));
  // "first": only the segment at the start of the text gets the prefix.
  CHECK_EQ(pieces_of(*t, t->encode("[C]ab", false, true)), (std::vector<std::string>{"[C]", "ab"}));
  CHECK_EQ(pieces_of(*t, t->encode("ab[C]ab", false, true)), (std::vector<std::string>{M + "a", "b", "[C]", "ab"}));
  // split: each "▁" starts a word, and no merge crosses words.
  const std::string split = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})";
  auto u = Tokenizer::load(dir.write("s.json", hf_json(kSmallVocab + R"(,"▁▁":16)", R"("▁ ▁","▁ a","a b")", "", "null", split)));
  CHECK_EQ(pieces_of(*u, u->encode("a  a")), (std::vector<std::string>{M + "a", M, M + "a"}));
  // Without split, the same merges join the two spaces.
  auto v = Tokenizer::load(dir.write("n.json", hf_json(kSmallVocab + R"(,"▁▁":16)", R"("▁ ▁","▁ a","a b")")));
  CHECK_EQ(pieces_of(*v, v->encode("a  a")), (std::vector<std::string>{M + "a", M + M, "a"}));
}

TEST(hf_json_added_tokens) {
  TempDir dir;
  // [C] special: only with parse_special. "ab" added but not special: always one token.
  auto t = Tokenizer::load(dir.write("a.json", hf_json(kSmallVocab, R"("▁ a","a b","b c")",
                                                        R"(,{"id":15,"content":"[C]","special":true},{"id":10,"content":"ab","special":false})")));
  CHECK(t->is_control(15));
  CHECK(!t->is_control(10));
  CHECK_EQ(t->encode("c[C]", false, true), (std::vector<int>{6, 9, 15}));
  const std::vector<int> plain = t->encode("c[C]");
  CHECK(std::find(plain.begin(), plain.end(), 15) == plain.end());
  // "ab" is cut out of the text before normalization; its neighbours are segments.
  CHECK_EQ(pieces_of(*t, t->encode("cabc")), (std::vector<std::string>{M, "c", "ab", M, "c"}));
}

TEST(hf_json_ignore_merges) {
  TempDir dir;
  auto t = Tokenizer::load(dir.write("i.json", hf_json(kSmallVocab, R"("a b","▁ a")", "", R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]})",
                                                        "null", R"(,"ignore_merges":true)")));
  // "▁abc" is not in the vocabulary, so merges apply; "▁ab" is, so it is taken whole.
  CHECK_EQ(pieces_of(*t, t->encode("ab")), (std::vector<std::string>{M + "ab"}));
}

TEST(hf_json_corrupt_files_fail_cleanly) {
  TempDir dir;
  auto load_text = [&](const std::string& text) { return Tokenizer::load(dir.write("bad.json", text)); };
  const std::string good = hf_json(kSmallVocab, R"("a b","b c")");
  EXPECT_ERROR(load_text(good.substr(0, good.size() / 2)), "invalid JSON");
  EXPECT_ERROR(load_text("[1,2]"), "object");
  EXPECT_ERROR(load_text(R"({"version":"1.0"})"), "model");
  EXPECT_ERROR(load_text(R"({"model":{"type":"Unigram","vocab":[]}})"), "Unigram");
  EXPECT_ERROR(load_text(R"({"model":{"type":"BPE","vocab":[],"merges":[]}})"), "vocab");
  EXPECT_ERROR(load_text(R"({"model":{"type":"BPE","vocab":{},"merges":[]}})"), "empty");
  EXPECT_ERROR(load_text(R"({"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}})"), "out of range");
  EXPECT_ERROR(load_text(R"({"model":{"type":"BPE","vocab":{"a":0,"b":900000000},"merges":[]}})"), "out of range");
  EXPECT_ERROR(load_text(R"({"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}})"), "should be");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, R"("a zz")")), "\"zz\" is not in the vocabulary");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, R"("c a")")), "\"ca\" is not in the vocabulary");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, R"("a b c")")), "two tokens");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, R"(["a"])")), "pairs");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, "", R"(,{"id":7,"content":"zz","special":true})")), "both");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, "", "", R"({"type":"NFKC"})")), "NFKC");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, "", "", "null", R"({"type":"ByteLevel"})")), "pre_tokenizer");
  EXPECT_ERROR(load_text(hf_json(kSmallVocab, "", "", "null", "null", R"(,"continuing_subword_prefix":"##")")),
               "continuing_subword_prefix");
  // Every truncation fails with an Error (none of them is valid JSON).
  int bad = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      Tokenizer::from_bytes(good.substr(0, n), "t.json");
      ++bad;
    } catch (const Error&) {
    } catch (...) {
      ++bad;
    }
  }
  CHECK(bad == 0);
}

TEST(loading_paths) {
  TempDir dir;
  EXPECT_ERROR(Tokenizer::load(dir.path + "/missing.json"), "missing.json");
  EXPECT_ERROR(Tokenizer::load("/dev/zero"), "not a regular file");
  CHECK(Tokenizer::load_from_dir(dir.path) == nullptr);
  EXPECT_ERROR(Tokenizer::load(dir.path), "no tokenizer.json or tokenizer.model");
  // A model file under Mistral's own name, then a tokenizer.json beside it: the JSON wins.
  dir.write("tokenizer.model.v3", spm_model(with_specials({{M, -1, NORMAL}})));
  auto from_model = Tokenizer::load_from_dir(dir.path);
  CHECK(from_model && from_model->vocab_size() == 3 + 256 + 1);
  dir.write("tokenizer.json", hf_json(kSmallVocab, R"("a b")"));
  auto from_json = Tokenizer::load_from_dir(dir.path);
  CHECK(from_json && from_json->vocab_size() == 16);
  CHECK(Tokenizer::load(dir.path)->vocab_size() == 16);
  // Format by content when the name says nothing.
  const std::string odd = dir.write("vocabulary.bin", spm_model(with_specials({{M, -1, NORMAL}})));
  CHECK(Tokenizer::load(odd)->vocab_size() == 3 + 256 + 1);
}

// ---------------------------------------------------------------------------
// Streaming decoder

std::string stream_all(const Tokenizer& t, const std::vector<int>& ids, std::vector<std::string>* parts = nullptr,
                       bool at_start = true) {
  Tokenizer::StreamDecoder s(t, at_start);
  std::string all;
  for (int id : ids) {
    const std::string part = s.push(id);
    if (parts) parts->push_back(part);
    all += part;
  }
  const std::string tail = s.flush();
  if (parts) parts->push_back(tail);
  return all + tail;
}

TEST(stream_decoder_holds_split_characters) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {M + "a", -1, NORMAL}}));
  const int a = t->token_id("a");
  auto b = [&](int byte) { return t->token_id(byte_piece(byte)); };
  std::vector<std::string> parts;
  // é split over two byte tokens, then a 4-byte emoji over four.
  const std::vector<int> ids = {t->token_id(M + "a"), b(0xC3), b(0xA9), b(0xF0), b(0x9F), b(0x98), b(0x80), a};
  CHECK_EQ(stream_all(*t, ids, &parts), std::string("a\xC3\xA9\xF0\x9F\x98\x80" "a"));
  CHECK_EQ(parts, (std::vector<std::string>{"a", "", "\xC3\xA9", "", "", "", "\xF0\x9F\x98\x80", "a", ""}));
  CHECK_EQ(stream_all(*t, ids), t->decode(ids));
}

TEST(stream_decoder_replaces_invalid_bytes_like_decode) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}}));
  const int a = t->token_id("a");
  auto b = [&](int byte) { return t->token_id(byte_piece(byte)); };
  const std::string fffd = "\xEF\xBF\xBD";
  std::vector<std::string> parts;
  // A lead byte cut short by a letter: U+FFFD, then the letter.
  CHECK_EQ(stream_all(*t, {a, b(0xC3), a}, &parts), "a" + fffd + "a");
  CHECK_EQ(parts, (std::vector<std::string>{"a", "", fffd + "a", ""}));
  // An incomplete sequence at the end: held, then one U+FFFD at flush.
  parts.clear();
  CHECK_EQ(stream_all(*t, {a, b(0xE4), b(0xB8)}, &parts), "a" + fffd);
  CHECK_EQ(parts, (std::vector<std::string>{"a", "", "", fffd}));
  // Bytes that can never start a character are replaced at once.
  parts.clear();
  CHECK_EQ(stream_all(*t, {b(0xFF), b(0x80), a}, &parts), fffd + fffd + "a");
  CHECK_EQ(parts[0], fffd);
  // Surrogates and overlong forms are not UTF-8 either (ED A0 80, C0 80).
  CHECK_EQ(t->decode({b(0xED), b(0xA0), b(0x80)}), fffd + fffd + fffd);
  CHECK_EQ(t->decode({b(0xC0), b(0x80)}), fffd + fffd);
  CHECK_EQ(t->decode({b(0xF0), b(0x9F), a}), fffd + "a");
}

TEST(stream_decoder_leading_space_and_control_tokens) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {M + "a", -1, NORMAL}}));
  const int sa = t->token_id(M + "a");
  // The dummy prefix's space goes, even after control tokens, and only once.
  CHECK_EQ(stream_all(*t, {1, sa, sa, 2}), std::string("a a"));
  CHECK_EQ(t->decode({1, sa, sa, 2}), std::string("a a"));
  CHECK_EQ(t->decode({1, sa, sa, 2}, true), std::string("<s>a a</s>"));
  // Continuing text already shown: the space is real.
  CHECK_EQ(stream_all(*t, {sa, sa}, nullptr, false), std::string(" a a"));
  Tokenizer::StreamDecoder s(*t);
  CHECK_EQ(s.push(sa), std::string("a"));
  CHECK_EQ(s.push(sa), std::string(" a"));
  EXPECT_ERROR(s.push(t->vocab_size()), "out of range");
  EXPECT_ERROR(s.push(-1), "out of range");
}

TEST(stream_decoder_matches_decode_on_random_sequences) {
  TempDir dir;
  auto t = load_spm(dir, with_specials({{M, -10, NORMAL}, {"a", -11, NORMAL}, {M + "a", -1, NORMAL},
                                        {"\xC3\xA9", -12, NORMAL}}));
  std::mt19937 rng(99);
  int mismatches = 0;
  for (int round = 0; round < 5000; ++round) {
    std::vector<int> ids;
    const int n = 1 + rng() % 12;
    for (int i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0: ids.push_back(3 + static_cast<int>(rng() % 256)); break;                   // any byte
        case 1: ids.push_back(3 + 0x80 + static_cast<int>(rng() % 0x40)); break;          // continuation
        case 2: ids.push_back(3 + 0xC2 + static_cast<int>(rng() % 0x33)); break;          // lead
        default: ids.push_back(259 + static_cast<int>(rng() % 4)); break;                 // pieces
      }
    }
    mismatches += stream_all(*t, ids) != t->decode(ids);
  }
  CHECK(mismatches == 0);
}

// ---------------------------------------------------------------------------
// The real vocabularies (when scripts/make-tokenizers.mjs output is given)

TEST(real_vocabularies) {
  if (g_tokenizers_dir.empty()) {
    std::printf("  (real_vocabularies: no TOKENIZERS_DIR given, nothing to check)\n");
    return;
  }
  const std::vector<std::string> texts = {
      "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
      "  int main(void) {\r\n\treturn 0;\r\n}\r\n",
      "Größe 中文 😀 e\xCC\x81 \xF0\x93\x80\x80",
      std::string(200, ' ') + "x",
      "",
      " ",
  };
  for (const char* version : {"v1", "v3"}) {
    const std::string dir = g_tokenizers_dir + "/" + version;
    auto json = Tokenizer::load(dir + "/tokenizer.json");
    auto model = Tokenizer::load(dir + "/tokenizer.model");
    const bool v3 = std::string(version) == "v3";
    for (const Tokenizer* t : {json.get(), model.get()}) {
      CHECK(t->vocab_size() == (v3 ? 32768 : 32000));
      CHECK(t->bos_id() == 1 && t->eos_id() == 2);
      CHECK(t->is_control(1) && t->is_control(2) && !t->is_control(t->token_id(M)));
      CHECK(t->token_id("<0x0A>") == (v3 ? 781 : 13));
      if (v3) {
        CHECK(t->token_id("[INST]") == 3 && t->token_id("[/INST]") == 4);
        CHECK(t->token_id("[PREFIX]") == 11 && t->token_id("[MIDDLE]") == 12 && t->token_id("[SUFFIX]") == 13);
        CHECK(t->is_control(3) && t->is_control(11));
        // Control tokens in text: plain encode treats them as text.
        const std::vector<int> plain = t->encode("[INST] hi [/INST]");
        CHECK(std::find(plain.begin(), plain.end(), 3) == plain.end());
        CHECK_EQ(t->decode(plain), std::string("[INST] hi [/INST]"));
        // Parsed, each text segment is encoded as on its own.
        std::vector<int> expected = {1, 3};
        for (int id : t->encode(" hi ")) expected.push_back(id);
        expected.push_back(4);
        CHECK_EQ(t->encode("[INST] hi [/INST]", true, true), expected);
        CHECK_EQ(t->decode(expected, true), std::string("<s>[INST] hi [/INST]"));
        const std::vector<int> fim = t->encode("[SUFFIX]return x[PREFIX]def f(x):", false, true);
        CHECK(fim.size() > 2 && fim[0] == 13);
        CHECK(std::find(fim.begin(), fim.end(), 11) != fim.end());
      } else {
        CHECK(t->token_id("[INST]") == -1 && t->token_id("[SUFFIX]") == -1);
        // v1 has no control tokens besides <s> and </s>: "[INST]" is text either way.
        CHECK_EQ(t->encode("[INST]", false, true), t->encode("[INST]"));
        std::vector<int> expected = {1};
        for (int id : t->encode("x")) expected.push_back(id);
        expected.push_back(2);
        CHECK_EQ(t->encode("<s>x</s>", false, true), expected);
      }
    }
    for (const std::string& text : texts) {
      CHECK_EQ(json->encode(text), model->encode(text));
      CHECK_EQ(json->decode(json->encode(text)), text);
      CHECK_EQ(stream_all(*json, json->encode(text)), text);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_tokenizers_dir = argv[1];
  return harness::run_all();
}
