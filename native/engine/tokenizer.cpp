// Mistral's tokenizer: SentencePiece BPE with byte fallback, read from either
// tokenizer.json (HF tokenizers) or tokenizer.model (SentencePiece protobuf).
//
// Encoding a text:
//   1. split it at special tokens (control tokens only when asked to parse them;
//      HF added tokens that are not special always);
//   2. normalize each segment: the dummy prefix "▁" and spaces → "▁";
//   3. cut it into initial symbols, one per character (a character outside the
//      vocabulary becomes its UTF-8 bytes, <0xNN>, before merging with tokenizer.json
//      as HF does, after merging with tokenizer.model as SentencePiece does — the
//      same tokens either way, since such characters never merge);
//   4. merge (bpe.h): tokenizer.json ranks pairs by their place in "merges";
//      tokenizer.model lets two symbols merge when their concatenation is a piece,
//      higher score first. Ties go to the leftmost pair in both.
#include "tramontane/tokenizer.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "bpe.h"
#include "json.h"
#include "sentencepiece_model.h"
#include "tokenizer_gguf.h"
#include "tramontane/engine.h"

namespace tramontane {
namespace {

constexpr std::string_view kMeta = "\xE2\x96\x81";  // "▁" U+2581, SentencePiece's space
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

enum class Kind : uint8_t { Normal, Unknown, Control, UserDefined, Unused, Byte };

// ---------------------------------------------------------------------------
// UTF-8

// Decodes the well-formed UTF-8 character at s[0..n); returns its length, or 0 when
// the bytes there are not a well-formed character.
size_t utf8_char(const unsigned char* s, size_t n, uint32_t& cp) {
  const unsigned char c = s[0];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = s[k];
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  return len;
}

// Appends the text of `bytes` to `out`, each maximal ill-formed subsequence replaced
// by one U+FFFD (the WHATWG Encoding Standard's UTF-8 decoder, which TextDecoder and
// the oracle use). When `final` is false, an incomplete but so far valid sequence at
// the end is left for later. Returns the number of bytes consumed.
size_t append_utf8(std::string_view bytes, bool final, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      size_t j = i + 1;
      while (j < n && s[j] < 0x80) ++j;
      out.append(bytes.data() + i, j - i);
      i = j;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out.append(kReplacementChar);
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool bad = false;
    for (size_t k = 0; k < need; ++k, ++j) {
      if (j >= n) {
        if (!final) return i;
        out.append(kReplacementChar);
        return n;
      }
      if (s[j] < lo || s[j] > hi) {
        bad = true;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
    }
    if (bad) {
      out.append(kReplacementChar);  // the offending byte starts the next round
    } else {
      out.append(bytes.data() + i, j - i);
    }
    i = j;
  }
  return n;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) return std::string(s);
  out.reserve(s.size() + s.size() / 4);
  size_t i = 0;
  while (true) {
    const size_t at = s.find(from, i);
    if (at == std::string_view::npos) break;
    out.append(s.data() + i, at - i);
    out.append(to);
    i = at + from.size();
  }
  out.append(s.data() + i, s.size() - i);
  return out;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// "<0x0A>" → 10; -1 when `piece` is not a byte piece.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (size_t k = 3; k < 5; ++k) {
    const char h = piece[k];
    int d;
    if (h >= '0' && h <= '9') d = h - '0';
    else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
    else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
    else return -1;
    value = value * 16 + d;
  }
  return value;
}

// ---------------------------------------------------------------------------
// What a loader hands to the tokenizer.

enum class Prefix {
  Never,
  Always,           // SentencePiece's add_dummy_prefix, HF's Prepend("▁"): every segment
  MetaspaceAlways,  // HF Metaspace: every segment not already starting with "▁"
  MetaspaceFirst,   // HF Metaspace: only a segment at the start of the text, ditto
};

struct Spec {
  std::string what;  // the file, for messages
  bool sentencepiece = false;  // merge rule: SentencePiece (scores) or HF (merges)
  std::vector<std::string> pieces;
  std::vector<Kind> kinds;
  std::vector<float> scores;                                  // SentencePiece
  std::vector<std::pair<std::string, std::string>> merges;    // HF
  int unk_id = -1;
  int bos_id = -1;
  int eos_id = -1;
  bool byte_fallback = false;
  bool fuse_unk = true;
  bool ignore_merges = false;
  std::string unk_surface;

  // Normalization of a segment, in order: collapse whitespace (SentencePiece's
  // remove_extra_whitespaces), the prefix, then spaces → `space`.
  bool remove_extra_whitespaces = false;
  Prefix prefix = Prefix::Always;
  std::string prefix_text{kMeta};
  std::string space{kMeta};  // what " " becomes; " " keeps spaces as they are
  bool split_words = false;  // HF Metaspace split: one BPE run per "▁word"
  bool strip_leading_space = true;  // decode drops the dummy prefix's space
};

[[noreturn]] void fail(const std::string& what, const std::string& message) {
  throw Error(spm::printable(what + ": " + message));
}

// ---------------------------------------------------------------------------

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Spec spec);

  std::vector<int> encode(const std::string& text, bool add_bos, bool parse_special) const override;
  std::string decode(const std::vector<int>& ids, bool keep_special) const override;

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  int token_id(const std::string& piece) const override {
    auto it = ids_.find(piece);
    return it == ids_.end() ? -1 : it->second;
  }
  std::string piece(int id) const override { return pieces_[check(id)]; }
  bool is_control(int id) const override {
    return id >= 0 && id < vocab_size() && kinds_[id] == Kind::Control;
  }
  std::string token_bytes(int id) const override { return bytes_[check(id)]; }
  std::string leading_token_bytes(int id) const override {
    check(id);
    return leading_[id] ? bytes_[id].substr(1) : bytes_[id];
  }

 private:
  int check(int id) const {
    if (id < 0 || id >= vocab_size()) {
      throw Error("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                  std::to_string(vocab_size()) + ")");
    }
    return id;
  }

  void build_pairs_from_merges(const Spec& spec);
  void build_pairs_from_scores(const Spec& spec);
  int32_t symbol_for(std::string_view s, bool create_virtual);

  size_t match_special(const std::string& text, size_t pos, bool parse_special, int& id) const;
  void normalize(std::string_view segment, bool at_text_start, std::string& out) const;
  void encode_segment(std::string_view segment, bool at_text_start, std::vector<int>& out) const;
  void encode_word(std::string_view word, size_t segment_start, std::vector<int>& out) const;
  void encode_run(std::string_view run, size_t segment_start, std::vector<int>& out) const;
  void merge_run(std::string_view run, std::vector<int>& tokens) const;
  void fallback(std::string_view chars, std::vector<int32_t>& symbols) const;
  void push_token(int id, size_t segment_start, std::vector<int>& out) const {
    if (id == unk_id_ && fuse_unk_ && out.size() > segment_start && out.back() == unk_id_) return;
    out.push_back(id);
  }
  void emit(int32_t id, std::vector<int>& out) const;
  void emit_traced(const bpe::Trace& trace, int32_t node, std::vector<int>& out) const;

  std::string what_;
  std::vector<std::string> pieces_;
  std::vector<Kind> kinds_;
  std::vector<std::string> bytes_;    // token_bytes
  std::vector<uint8_t> leading_;      // first decoded token drops its leading space
  std::unordered_map<std::string, int> ids_;

  // Initial symbols: characters that are pieces map to their id; in SentencePiece
  // mode a character that is no piece but occurs inside one gets a virtual id
  // (vocab_size() + k), turned into bytes after merging if it is still alone.
  std::array<int32_t, 128> ascii_{};
  std::unordered_map<uint32_t, int32_t> chars_;
  std::vector<std::string> virtual_;
  std::array<int32_t, 256> byte_ids_{};

  bpe::PairTable pairs_;
  std::vector<uint8_t> mergeable_;
  bool has_unused_ = false;
  // True when no piece has a space symbol right after another character: then no
  // merge crosses the start of a "▁word", and each word can be merged (and cached)
  // on its own with the same result.
  bool word_boundaries_ = false;
  uint64_t instance_ = 0;  // tells the per-thread word caches of two tokenizers apart

  // Special tokens: control ones (matched when parse_special) and "always" ones
  // (HF added tokens that are not special). SentencePiece's user-defined pieces are
  // matched inside the normalized text instead, as SentencePiece does.
  // Keys view into pieces_, which never changes after construction.
  std::unordered_map<std::string_view, int> specials_;
  std::unordered_map<std::string_view, int> always_;
  std::vector<size_t> special_lengths_;  // distinct, longest first
  std::array<uint8_t, 256> special_first_{};  // 1: some special starts with it, 2: some always one
  std::unordered_map<std::string, int> user_defined_;
  std::vector<size_t> user_defined_lengths_;
  std::array<uint8_t, 256> user_defined_first_{};

  int unk_id_ = -1;
  int bos_id_ = -1;
  int eos_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = true;
  bool ignore_merges_ = false;
  bool remove_extra_whitespaces_ = false;
  Prefix prefix_ = Prefix::Always;
  std::string prefix_text_;
  std::string space_;
  bool split_words_ = false;
  bool strip_leading_space_ = true;
};

BpeTokenizer::BpeTokenizer(Spec spec)
    : what_(spec.what),
      pieces_(std::move(spec.pieces)),
      kinds_(std::move(spec.kinds)),
      unk_id_(spec.unk_id),
      bos_id_(spec.bos_id),
      eos_id_(spec.eos_id),
      byte_fallback_(spec.byte_fallback),
      fuse_unk_(spec.fuse_unk),
      ignore_merges_(spec.ignore_merges),
      remove_extra_whitespaces_(spec.remove_extra_whitespaces),
      prefix_(spec.prefix),
      prefix_text_(spec.prefix_text),
      space_(spec.space),
      split_words_(spec.split_words),
      strip_leading_space_(spec.strip_leading_space) {
  const int n = vocab_size();
  ids_.reserve(n * 2);
  for (int id = 0; id < n; ++id) {
    if (!pieces_[id].empty()) ids_[pieces_[id]] = id;
  }

  ascii_.fill(-1);
  byte_ids_.fill(-1);
  bytes_.resize(n);
  leading_.assign(n, 0);
  for (int id = 0; id < n; ++id) {
    const std::string& p = pieces_[id];
    switch (kinds_[id]) {
      case Kind::Byte: {
        const int b = parse_byte_piece(p);
        if (b < 0) fail(what_, "byte piece " + std::to_string(id) + " \"" + p + "\" is not of the form <0xNN>");
        byte_ids_[b] = id;
        bytes_[id] = std::string(1, static_cast<char>(b));
        break;
      }
      case Kind::Control: break;
      case Kind::Unknown: bytes_[id] = spec.unk_surface; break;
      case Kind::Normal:
      case Kind::UserDefined:
      case Kind::Unused: {
        bytes_[id] = replace_all(p, kMeta, " ");
        leading_[id] = strip_leading_space_ && !bytes_[id].empty() && bytes_[id][0] == ' ';
        uint32_t cp;
        const size_t len = utf8_char(reinterpret_cast<const unsigned char*>(p.data()), p.size(), cp);
        if (len != 0 && len == p.size()) {
          if (cp < 128) ascii_[cp] = id;
          else chars_[cp] = id;
        }
        if (kinds_[id] == Kind::Unused) has_unused_ = true;
        break;
      }
    }
  }
  if (unk_id_ >= n || bos_id_ >= n || eos_id_ >= n) fail(what_, "a special token id is out of range");
  if (!spec.sentencepiece) has_unused_ = false;

  // Special tokens.
  for (int id = 0; id < n; ++id) {
    const std::string& p = pieces_[id];
    if (p.empty()) continue;
    const Kind k = kinds_[id];
    if (k == Kind::Control) {
      specials_[std::string_view(pieces_[id])] = id;
      special_first_[static_cast<uint8_t>(p[0])] |= 1;
    } else if (k == Kind::UserDefined) {
      if (spec.sentencepiece) {
        user_defined_[p] = id;
        user_defined_first_[static_cast<uint8_t>(p[0])] = 1;
        if (std::find(user_defined_lengths_.begin(), user_defined_lengths_.end(), p.size()) == user_defined_lengths_.end()) {
          user_defined_lengths_.push_back(p.size());
        }
        continue;
      }
      always_[std::string_view(pieces_[id])] = id;
      special_first_[static_cast<uint8_t>(p[0])] |= 3;
    } else {
      continue;
    }
    if (std::find(special_lengths_.begin(), special_lengths_.end(), p.size()) == special_lengths_.end()) {
      special_lengths_.push_back(p.size());
    }
  }
  std::sort(special_lengths_.rbegin(), special_lengths_.rend());
  std::sort(user_defined_lengths_.rbegin(), user_defined_lengths_.rend());

  if (spec.sentencepiece) build_pairs_from_scores(spec);
  else build_pairs_from_merges(spec);

  word_boundaries_ = !space_.empty();
  for (int id = 0; id < n && word_boundaries_; ++id) {
    const Kind k = kinds_[id];
    if (k != Kind::Normal && k != Kind::Unused && k != Kind::UserDefined) continue;
    const std::string& p = pieces_[id];
    for (size_t at = p.find(space_, 1); at != std::string::npos; at = p.find(space_, at + 1)) {
      if (at < space_.size() || p.compare(at - space_.size(), space_.size(), space_) != 0) {
        word_boundaries_ = false;
        break;
      }
    }
  }
  // The single characters of ASCII text, and the space symbol, pair up most often.
  std::vector<int32_t> dense;
  if (const int32_t id = symbol_for(space_, false); id >= 0) dense.push_back(id);
  for (int c = 32; c < 127; ++c) {
    if (ascii_[c] >= 0) dense.push_back(ascii_[c]);
  }
  pairs_.set_dense(dense);

  static std::atomic<uint64_t> instances{0};
  instance_ = ++instances;
}

void BpeTokenizer::build_pairs_from_merges(const Spec& spec) {
  mergeable_.assign(pieces_.size(), 0);
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    auto describe = [&] { return "merge " + std::to_string(rank) + " (\"" + a + "\", \"" + b + "\")"; };
    const int left = token_id(a);
    const int right = token_id(b);
    if (left < 0) fail(what_, describe() + ": \"" + a + "\" is not in the vocabulary");
    if (right < 0) fail(what_, describe() + ": \"" + b + "\" is not in the vocabulary");
    const int result = token_id(a + b);
    if (result < 0) fail(what_, describe() + ": \"" + a + b + "\" is not in the vocabulary");
    // HF tokenizers keeps the later of two identical merges; so does the map.
    pairs_.insert(left, right, {static_cast<uint32_t>(rank), result});
    mergeable_[left] = mergeable_[right] = 1;
  }
}

// The symbol id of a piece part: a character (its piece, or a virtual symbol) or a
// piece that merging can produce. -1 when no symbol can be that string.
int32_t BpeTokenizer::symbol_for(std::string_view s, bool create_virtual) {
  uint32_t cp;
  const size_t len = utf8_char(reinterpret_cast<const unsigned char*>(s.data()), s.size(), cp);
  if (len != 0 && len == s.size()) {
    if (cp < 128 && ascii_[cp] >= 0) return ascii_[cp];
    auto it = chars_.find(cp);
    if (it != chars_.end()) return it->second;
    if (!create_virtual) return -1;
    const int32_t id = static_cast<int32_t>(pieces_.size() + virtual_.size());
    virtual_.emplace_back(s);
    if (cp < 128) ascii_[cp] = id;
    else chars_[cp] = id;
    return id;
  }
  auto it = ids_.find(std::string(s));
  if (it == ids_.end()) return -1;
  const Kind k = kinds_[it->second];
  return (k == Kind::Normal || k == Kind::Unused) ? it->second : -1;
}

// SentencePiece: two symbols merge when their concatenation is a piece (NORMAL,
// USER_DEFINED or UNUSED), the piece of highest score first. Every split of every
// such piece into two symbols is a pair; its rank is the piece's place in score order.
void BpeTokenizer::build_pairs_from_scores(const Spec& spec) {
  const int n = vocab_size();
  std::vector<int> order;
  for (int id = 0; id < n; ++id) {
    const Kind k = kinds_[id];
    if ((k == Kind::Normal || k == Kind::UserDefined || k == Kind::Unused) && count_chars(pieces_[id]) >= 2) {
      order.push_back(id);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return spec.scores[a] > spec.scores[b]; });

  // Characters inside pieces that are no pieces themselves become virtual symbols.
  for (int id : order) {
    const std::string& p = pieces_[id];
    for (size_t i = 0; i < p.size();) {
      uint32_t cp;
      size_t len = utf8_char(reinterpret_cast<const unsigned char*>(p.data() + i), p.size() - i, cp);
      if (len == 0) fail(what_, "piece " + std::to_string(id) + " is not valid UTF-8");
      symbol_for(std::string_view(p).substr(i, len), true);
      i += len;
    }
  }

  mergeable_.assign(pieces_.size() + virtual_.size(), 0);
  uint32_t rank = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    if (k > 0 && spec.scores[order[k]] != spec.scores[order[k - 1]]) ++rank;
    const int id = order[k];
    const std::string_view p = pieces_[id];
    for (size_t cut = 1; cut < p.size(); ++cut) {
      if ((static_cast<unsigned char>(p[cut]) & 0xC0) == 0x80) continue;  // inside a character
      const int32_t left = symbol_for(p.substr(0, cut), false);
      if (left < 0) continue;
      const int32_t right = symbol_for(p.substr(cut), false);
      if (right < 0) continue;
      pairs_.insert(left, right, {rank, id});
      mergeable_[left] = mergeable_[right] = 1;
    }
  }
}

// Length of the longest special token at text[pos] (0 when none); sets `id`.
size_t BpeTokenizer::match_special(const std::string& text, size_t pos, bool parse_special, int& id) const {
  const size_t left = text.size() - pos;
  for (size_t len : special_lengths_) {
    if (len > left) continue;
    const std::string_view candidate(text.data() + pos, len);
    auto it = always_.find(candidate);
    if (it != always_.end()) {
      id = it->second;
      return len;
    }
    if (parse_special) {
      it = specials_.find(candidate);
      if (it != specials_.end()) {
        id = it->second;
        return len;
      }
    }
  }
  return 0;
}

std::vector<int> BpeTokenizer::encode(const std::string& text, bool add_bos, bool parse_special) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  const uint8_t mask = parse_special ? 1 : 2;
  size_t segment = 0;
  if (!special_lengths_.empty()) {
    for (size_t pos = 0; pos < text.size();) {
      int id;
      size_t len;
      if ((special_first_[static_cast<uint8_t>(text[pos])] & mask) &&
          (len = match_special(text, pos, parse_special, id)) > 0) {
        encode_segment(std::string_view(text).substr(segment, pos - segment), segment == 0, out);
        out.push_back(id);
        pos += len;
        segment = pos;
      } else {
        ++pos;
      }
    }
  }
  encode_segment(std::string_view(text).substr(segment), segment == 0, out);
  return out;
}

void BpeTokenizer::normalize(std::string_view segment, bool at_text_start, std::string& out) const {
  std::string collapsed;
  if (remove_extra_whitespaces_) {
    // SentencePiece: no leading or trailing spaces, runs of spaces become one.
    for (char c : segment) {
      if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
      collapsed.push_back(c);
    }
    while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
    segment = collapsed;
  }
  out.clear();
  if (segment.empty()) return;
  bool prefix = false;
  const bool starts_with_space = segment[0] == ' ' || segment.substr(0, space_.size()) == space_;
  switch (prefix_) {
    case Prefix::Never: break;
    case Prefix::Always: prefix = true; break;
    case Prefix::MetaspaceAlways: prefix = !starts_with_space; break;
    case Prefix::MetaspaceFirst: prefix = at_text_start && !starts_with_space; break;
  }
  out.reserve(segment.size() + segment.size() / 2 + 4);
  if (prefix) out.append(prefix_text_);
  for (char c : segment) {
    if (c == ' ') out.append(space_);
    else out.push_back(c);
  }
}

void BpeTokenizer::encode_segment(std::string_view segment, bool at_text_start, std::vector<int>& out) const {
  if (segment.empty()) return;
  thread_local std::string normalized;
  normalize(segment, at_text_start, normalized);
  if (normalized.empty()) return;
  const size_t segment_start = out.size();
  if (!split_words_) {
    encode_word(normalized, segment_start, out);
    return;
  }
  // HF Metaspace with split: each "▁" starts a new word (unknown tokens fuse only
  // within a word, as HF does).
  const std::string_view all = normalized;
  size_t start = 0;
  while (start < all.size()) {
    size_t next = all.find(space_, start + 1);
    if (next == std::string_view::npos) next = all.size();
    encode_word(all.substr(start, next - start), out.size(), out);
    start = next;
  }
}

// A word in HF's sense (the whole segment unless a Metaspace pre-tokenizer split it).
void BpeTokenizer::encode_word(std::string_view word, size_t segment_start, std::vector<int>& out) const {
  if (ignore_merges_) {
    auto it = ids_.find(std::string(word));
    if (it != ids_.end() && kinds_[it->second] == Kind::Normal) {
      out.push_back(it->second);
      return;
    }
  }
  if (!word_boundaries_) {
    encode_run(word, segment_start, out);
    return;
  }
  // Cut before every space symbol that follows another character: no merge can
  // cross there (see word_boundaries_), so the pieces merge independently.
  size_t start = 0;
  size_t at = word.find(space_, 1);
  while (at != std::string_view::npos) {
    const bool after_space = at >= space_.size() && word.compare(at - space_.size(), space_.size(), space_) == 0;
    if (!after_space) {
      encode_run(word.substr(start, at - start), segment_start, out);
      start = at;
    }
    at = word.find(space_, at + space_.size());
  }
  encode_run(word.substr(start), segment_start, out);
}

// Encodes a run through a small per-thread cache: source code repeats its words.
void BpeTokenizer::encode_run(std::string_view run, size_t segment_start, std::vector<int>& out) const {
  constexpr size_t kMaxCachedBytes = 64;
  constexpr size_t kMaxEntries = 1 << 15;
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> words;  // → (offset, count) in tokens
    std::vector<int> tokens;
  };
  thread_local Cache cache;

  if (run.size() > kMaxCachedBytes) {
    thread_local std::vector<int> tokens;
    tokens.clear();
    merge_run(run, tokens);
    for (int id : tokens) push_token(id, segment_start, out);
    return;
  }
  if (cache.owner != instance_ || cache.words.size() >= kMaxEntries) {
    cache.words.clear();
    cache.tokens.clear();
    cache.owner = instance_;
  }
  thread_local std::string key;
  key.assign(run.data(), run.size());
  auto [it, inserted] = cache.words.try_emplace(key);
  if (inserted) {
    const size_t offset = cache.tokens.size();
    try {
      merge_run(run, cache.tokens);
    } catch (...) {
      cache.words.erase(it);
      cache.tokens.resize(offset);
      throw;
    }
    it->second = {static_cast<uint32_t>(offset), static_cast<uint32_t>(cache.tokens.size() - offset)};
  }
  const int* tokens = cache.tokens.data() + it->second.first;
  for (uint32_t i = 0; i < it->second.second; ++i) push_token(tokens[i], segment_start, out);
}

void BpeTokenizer::fallback(std::string_view chars, std::vector<int32_t>& symbols) const {
  if (byte_fallback_) {
    bool all = true;
    for (char c : chars) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
    if (all) {
      for (char c : chars) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
      return;
    }
  }
  if (unk_id_ < 0) fail(what_, "cannot encode a character: no byte fallback and no unknown token");
  symbols.push_back(unk_id_);
}

void BpeTokenizer::emit(int32_t id, std::vector<int>& out) const {
  if (id >= vocab_size()) {  // a virtual symbol that stayed alone: its bytes
    thread_local std::vector<int32_t> bytes;
    bytes.clear();
    fallback(virtual_[id - vocab_size()], bytes);
    for (int32_t b : bytes) push_token(b, 0, out);
    return;
  }
  push_token(id, 0, out);
}

// SentencePiece splits an UNUSED piece back into the symbols it was merged from.
void BpeTokenizer::emit_traced(const bpe::Trace& trace, int32_t node, std::vector<int>& out) const {
  const bpe::Trace::Node& n = trace.nodes[node];
  if (n.left >= 0 && n.id < vocab_size() && kinds_[n.id] == Kind::Unused) {
    emit_traced(trace, n.left, out);
    emit_traced(trace, n.right, out);
    return;
  }
  emit(n.id, out);
}

// Characters → initial symbols → merged tokens, appended to `tokens`.
void BpeTokenizer::merge_run(std::string_view run, std::vector<int>& tokens) const {
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  const auto* s = reinterpret_cast<const unsigned char*>(run.data());
  const size_t n = run.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (!user_defined_.empty() && user_defined_first_[c]) {
      size_t matched = 0;
      for (size_t len : user_defined_lengths_) {
        if (len > n - i) continue;
        auto it = user_defined_.find(std::string(run.substr(i, len)));
        if (it != user_defined_.end()) {
          symbols.push_back(it->second);
          matched = len;
          break;
        }
      }
      if (matched) {
        i += matched;
        continue;
      }
    }
    if (c < 0x80) {
      if (ascii_[c] >= 0) symbols.push_back(ascii_[c]);
      else fallback(run.substr(i, 1), symbols);
      ++i;
      continue;
    }
    uint32_t cp;
    const size_t len = utf8_char(s + i, n - i, cp);
    if (len == 0) {  // not UTF-8: the byte stands alone
      fallback(run.substr(i, 1), symbols);
      ++i;
      continue;
    }
    auto it = chars_.find(cp);
    if (it != chars_.end()) symbols.push_back(it->second);
    else fallback(run.substr(i, len), symbols);
    i += len;
  }

  const bpe::Merger merger(pairs_, mergeable_);
  if (has_unused_) {
    // Merge again with a trace only when an UNUSED piece came out (rarely).
    thread_local std::vector<int32_t> initial;
    initial = symbols;
    merger.merge(symbols);
    bool unused = false;
    for (int32_t id : symbols) unused = unused || (id < vocab_size() && kinds_[id] == Kind::Unused);
    if (unused) {
      thread_local bpe::Trace trace;
      symbols = initial;
      merger.merge(symbols, &trace);
      for (int32_t root : trace.roots) emit_traced(trace, root, tokens);
      return;
    }
  } else {
    merger.merge(symbols);
  }
  for (int32_t id : symbols) emit(id, tokens);
}

std::string BpeTokenizer::decode(const std::vector<int>& ids, bool keep_special) const {
  std::string raw;
  raw.reserve(ids.size() * 4);
  bool at_start = true;
  for (int id : ids) {
    check(id);
    if (kinds_[id] == Kind::Control) {
      if (keep_special) {
        raw += pieces_[id];
        // Text after a control token was encoded as its own segment, with its own
        // dummy prefix when every segment gets one.
        if (prefix_ == Prefix::Always) at_start = true;
      }
      continue;
    }
    const std::string& b = bytes_[id];
    if (at_start && leading_[id]) raw.append(b, 1, std::string::npos);
    else raw += b;
    if (!b.empty()) at_start = false;
  }
  std::string text;
  text.reserve(raw.size());
  append_utf8(raw, true, text);
  return text;
}

// ---------------------------------------------------------------------------
// Loaders

std::string read_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    throw Error("cannot open tokenizer " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw Error(path + " is a directory, not a tokenizer file");
  if (!S_ISREG(st.st_mode)) throw Error(path + " is not a regular file");
  if (st.st_size > (int64_t{1} << 30)) throw Error(path + ": too large for a tokenizer (" + std::to_string(st.st_size) + " bytes)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tokenizer " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error("cannot read tokenizer " + path);
  return buffer.str();
}

std::unique_ptr<Tokenizer> from_sentencepiece(const spm::ModelProto& model, const std::string& path) {
  if (model.model_type != spm::ModelType::Bpe) {
    static const char* names[] = {"", "UNIGRAM", "BPE", "WORD", "CHAR"};
    fail(path, std::string("SentencePiece model type ") + names[static_cast<int>(model.model_type)] +
                   " is not supported (Mistral's tokenizers are BPE)");
  }
  if (model.has_precompiled_charsmap || !(model.normalizer_name.empty() || model.normalizer_name == "identity")) {
    fail(path, "SentencePiece normalizer \"" + model.normalizer_name +
                   "\" is not supported (only \"identity\", as Mistral's tokenizers use)");
  }
  if (model.treat_whitespace_as_suffix) fail(path, "treat_whitespace_as_suffix is not supported");

  Spec spec;
  spec.what = path;
  spec.sentencepiece = true;
  const size_t n = model.pieces.size();
  spec.pieces.reserve(n);
  spec.kinds.reserve(n);
  spec.scores.reserve(n);
  for (const spm::Piece& p : model.pieces) {
    Kind kind = Kind::Normal;
    switch (p.type) {
      case spm::PieceType::Normal: kind = Kind::Normal; break;
      case spm::PieceType::Unknown: kind = Kind::Unknown; break;
      case spm::PieceType::Control: kind = Kind::Control; break;
      case spm::PieceType::UserDefined: kind = Kind::UserDefined; break;
      case spm::PieceType::Unused: kind = Kind::Unused; break;
      case spm::PieceType::Byte:
        if (!model.byte_fallback) fail(path, "byte piece \"" + p.piece + "\" in a model without byte_fallback");
        kind = Kind::Byte;
        break;
    }
    spec.pieces.push_back(p.piece);
    spec.kinds.push_back(kind);
    spec.scores.push_back(p.score);
  }
  spec.unk_id = model.unk_id;
  spec.bos_id = model.bos_id;
  spec.eos_id = model.eos_id;
  spec.byte_fallback = model.byte_fallback;
  spec.fuse_unk = true;
  spec.unk_surface = model.unk_surface;
  spec.remove_extra_whitespaces = model.remove_extra_whitespaces;
  spec.space = model.escape_whitespaces ? std::string(kMeta) : std::string(" ");
  spec.prefix = model.add_dummy_prefix ? Prefix::Always : Prefix::Never;
  spec.prefix_text = spec.space;
  spec.strip_leading_space = model.add_dummy_prefix;
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& bytes, const std::string& path) {
  return from_sentencepiece(spm::parse_model(bytes, path), path);
}

const json::Value* member(const json::Value& object, const char* key) {
  const json::Value* v = object.find(key);
  return v && !v->is_null() ? v : nullptr;
}

std::string string_pattern(const json::Value& pattern, const std::string& path) {
  if (const json::Value* s = member(pattern, "String")) return s->as_string("pattern.String");
  fail(path, "only String patterns are supported in Replace");
}

// One step of an HF normalizer: Prepend(text) or Replace(from, to).
struct NormalizerStep {
  bool prepend;
  std::string text;  // Prepend's text, or Replace's pattern
  std::string to;    // Replace's content
};

// Mistral's "legacy" layout: Prepend("▁") and Replace(" ", "▁"), in a Sequence or alone.
void read_normalizer(const json::Value& node, const std::string& path, std::vector<NormalizerStep>& steps) {
  const json::Value* type = member(node, "type");
  if (!type) fail(path, "normalizer without a type");
  const std::string& t = type->as_string("normalizer.type");
  if (t == "Sequence") {
    const json::Value* list = member(node, "normalizers");
    if (!list) fail(path, "Sequence normalizer without \"normalizers\"");
    for (const json::Value& child : list->as_array("normalizers")) read_normalizer(child, path, steps);
  } else if (t == "Prepend") {
    const json::Value* p = member(node, "prepend");
    if (!p) fail(path, "Prepend normalizer without \"prepend\"");
    steps.push_back({true, p->as_string("Prepend.prepend"), {}});
  } else if (t == "Replace") {
    const json::Value* pattern = member(node, "pattern");
    const json::Value* content = member(node, "content");
    if (!pattern || !content) fail(path, "Replace normalizer without pattern or content");
    steps.push_back({false, string_pattern(*pattern, path), content->as_string("Replace.content")});
  } else {
    fail(path, "normalizer \"" + t + "\" is not supported (Mistral's tokenizers use Prepend and Replace)");
  }
}

Prefix read_prepend_scheme(const json::Value& node, const std::string& path) {
  if (const json::Value* scheme = member(node, "prepend_scheme")) {
    const std::string& s = scheme->as_string("prepend_scheme");
    if (s == "always") return Prefix::MetaspaceAlways;
    if (s == "first") return Prefix::MetaspaceFirst;
    if (s == "never") return Prefix::Never;
    fail(path, "unknown Metaspace prepend_scheme \"" + s + "\"");
  }
  if (const json::Value* add = member(node, "add_prefix_space")) {
    return add->as_bool("add_prefix_space") ? Prefix::MetaspaceAlways : Prefix::Never;
  }
  return Prefix::MetaspaceAlways;
}

// The Metaspace pre-tokenizer, alone or the only member of a Sequence; null otherwise.
const json::Value* find_metaspace(const json::Value& node, const std::string& path) {
  const json::Value* type = member(node, "type");
  if (!type) fail(path, "pre_tokenizer without a type");
  const std::string& t = type->as_string("pre_tokenizer.type");
  if (t == "Metaspace") return &node;
  if (t == "Sequence") {
    const json::Value* list = member(node, "pretokenizers");
    if (list && list->as_array("pretokenizers").size() == 1) return find_metaspace(list->as_array()[0], path);
  }
  return nullptr;
}

// The decoder decides whether the first token's leading space is dropped:
// Strip(" ", 1, 0) after Replace("▁", " ") in the legacy layout, or Metaspace.
bool decoder_strips(const json::Value& node, const std::string& path, bool& known) {
  const json::Value* type = member(node, "type");
  if (!type) fail(path, "decoder without a type");
  const std::string& t = type->as_string("decoder.type");
  if (t == "Sequence") {
    bool strips = false;
    if (const json::Value* list = member(node, "decoders")) {
      for (const json::Value& child : list->as_array("decoders")) strips = decoder_strips(child, path, known) || strips;
    }
    return strips;
  }
  if (t == "Strip") {
    known = true;
    const json::Value* content = member(node, "content");
    const json::Value* start = member(node, "start");
    return content && content->as_string("Strip.content") == " " && start && start->as_int("Strip.start") >= 1;
  }
  if (t == "Metaspace") {
    known = true;
    return read_prepend_scheme(node, path) != Prefix::Never;
  }
  return false;
}

std::unique_ptr<Tokenizer> load_hf_json(const std::string& text, const std::string& path) {
  const json::Value root = json::Value::parse(text, path);
  if (!root.is_object()) fail(path, "expected a JSON object at the top level");
  const json::Value* model = member(root, "model");
  if (!model || !model->is_object()) fail(path, "no \"model\" object (not a tokenizer.json?)");
  if (const json::Value* type = member(*model, "type")) {
    const std::string& t = type->as_string("model.type");
    if (t != "BPE") fail(path, "model type \"" + t + "\" is not supported (Mistral's tokenizers are BPE)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json::Value* v = member(*model, key)) {
      if (!v->as_string(key).empty()) fail(path, std::string(key) + " is not supported");
    }
  }
  const json::Value* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail(path, "model.vocab should be an object of token → id");
  const json::Value* merges = member(*model, "merges");
  if (!merges || !merges->is_array()) fail(path, "model.merges should be an array");

  Spec spec;
  spec.what = path;
  // Ids may leave a few holes, not a corrupt file's worth of them: a huge id would
  // otherwise allocate gigabytes.
  const size_t entries = vocab->as_object().size() + (member(root, "added_tokens") && member(root, "added_tokens")->is_array()
                                                          ? member(root, "added_tokens")->as_array().size()
                                                          : 0);
  const int64_t kMaxVocab = std::min<int64_t>(int64_t{1} << 24, static_cast<int64_t>(entries) * 4 + 4096);
  auto place = [&](int64_t id, const std::string& piece, const char* where) {
    if (id < 0 || id >= kMaxVocab) fail(path, std::string(where) + " id " + std::to_string(id) + " of \"" + piece + "\" is out of range");
    if (static_cast<size_t>(id) >= spec.pieces.size()) {
      spec.pieces.resize(id + 1);
      spec.kinds.resize(id + 1, Kind::Unused);
    }
    std::string& slot = spec.pieces[id];
    if (!slot.empty() && slot != piece) {
      fail(path, std::string(where) + " id " + std::to_string(id) + " is both \"" + slot + "\" and \"" + piece + "\"");
    }
    slot = piece;
  };
  for (const auto& [piece, id] : vocab->as_object("model.vocab")) {
    if (piece.empty()) fail(path, "model.vocab has an empty token");
    place(id.as_int("model.vocab id"), piece, "model.vocab");
    spec.kinds[id.as_int()] = parse_byte_piece(piece) >= 0 ? Kind::Byte : Kind::Normal;
  }
  if (spec.pieces.empty()) fail(path, "model.vocab is empty");

  spec.byte_fallback = member(*model, "byte_fallback") && member(*model, "byte_fallback")->as_bool("model.byte_fallback");
  spec.fuse_unk = member(*model, "fuse_unk") && member(*model, "fuse_unk")->as_bool("model.fuse_unk");
  spec.ignore_merges = member(*model, "ignore_merges") && member(*model, "ignore_merges")->as_bool("model.ignore_merges");
  std::string unk_token;
  if (const json::Value* unk = member(*model, "unk_token")) unk_token = unk->as_string("model.unk_token");

  if (const json::Value* added = member(root, "added_tokens")) {
    for (const json::Value& token : added->as_array("added_tokens")) {
      const json::Value* id = member(token, "id");
      const json::Value* content = member(token, "content");
      if (!id || !content) fail(path, "an added token without id or content");
      const std::string& piece = content->as_string("added_tokens content");
      if (piece.empty()) fail(path, "an added token is empty");
      const int64_t i = id->as_int("added_tokens id");
      place(i, piece, "added_tokens");
      const json::Value* special = member(token, "special");
      spec.kinds[i] = special && special->as_bool("added_tokens special") ? Kind::Control : Kind::UserDefined;
    }
  }
  for (size_t id = 0; id < spec.pieces.size(); ++id) {
    if (spec.pieces[id] == unk_token && !unk_token.empty()) {
      spec.unk_id = static_cast<int>(id);
      if (spec.kinds[id] != Kind::Control) spec.kinds[id] = Kind::Unknown;
    }
    if (spec.pieces[id] == "<s>") spec.bos_id = static_cast<int>(id);
    if (spec.pieces[id] == "</s>") spec.eos_id = static_cast<int>(id);
  }
  if (!unk_token.empty() && spec.unk_id < 0) fail(path, "unk_token \"" + unk_token + "\" is not in the vocabulary");
  if (spec.unk_id >= 0) spec.unk_surface = spec.pieces[spec.unk_id];

  spec.merges.reserve(merges->as_array().size());
  for (const json::Value& m : merges->as_array()) {
    if (m.is_string()) {
      const std::string& s = m.as_string();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        fail(path, "merge \"" + s + "\" is not two tokens separated by one space");
      }
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.as_array().size() == 2) {
      spec.merges.emplace_back(m.as_array()[0].as_string("merge part"), m.as_array()[1].as_string("merge part"));
    } else {
      fail(path, "model.merges entries should be \"a b\" strings or [a, b] pairs");
    }
  }

  // Normalization: the legacy layout (normalizer Prepend + Replace) or a Metaspace
  // pre-tokenizer.
  spec.prefix = Prefix::Never;
  spec.space = " ";
  bool prefix_from_normalizer = false;
  if (const json::Value* normalizer = member(root, "normalizer")) {
    std::vector<NormalizerStep> steps;
    read_normalizer(*normalizer, path, steps);
    for (size_t i = 0; i < steps.size(); ++i) {
      const NormalizerStep& step = steps[i];
      if (step.prepend) {
        if (prefix_from_normalizer) fail(path, "two Prepend normalizers are not supported");
        // Later replacements apply to the prepended text too.
        std::string text = step.text;
        for (size_t j = i + 1; j < steps.size(); ++j) {
          if (!steps[j].prepend) text = replace_all(text, steps[j].text, steps[j].to);
        }
        spec.prefix = Prefix::Always;
        spec.prefix_text = text;
        prefix_from_normalizer = true;
      } else {
        if (step.text != " ") fail(path, "Replace(\"" + step.text + "\") is not supported (only spaces are replaced)");
        if (spec.space != " ") fail(path, "two space replacements are not supported");
        spec.space = step.to;
      }
    }
  }
  if (const json::Value* pre = member(root, "pre_tokenizer")) {
    const json::Value* metaspace = find_metaspace(*pre, path);
    if (!metaspace) fail(path, "this pre_tokenizer is not supported (Mistral's tokenizers use none or Metaspace)");
    if (prefix_from_normalizer || spec.space != " ") fail(path, "both a normalizer and a Metaspace pre-tokenizer add \"▁\"");
    std::string replacement{kMeta};
    if (const json::Value* r = member(*metaspace, "replacement")) replacement = r->as_string("Metaspace.replacement");
    spec.space = replacement;
    spec.prefix_text = replacement;
    spec.prefix = read_prepend_scheme(*metaspace, path);
    const json::Value* split = member(*metaspace, "split");
    spec.split_words = split ? split->as_bool("Metaspace.split") : true;
  }
  spec.strip_leading_space = spec.prefix != Prefix::Never;
  if (const json::Value* decoder = member(root, "decoder")) {
    bool known = false;
    const bool strips = decoder_strips(*decoder, path, known);
    if (known) spec.strip_leading_space = strips;
  }
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

// ---------------------------------------------------------------------------

std::unique_ptr<Tokenizer> sentencepiece_tokenizer(const spm::ModelProto& model, const std::string& what) {
  return from_sentencepiece(model, what);
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::unique_ptr<Tokenizer> t = load_from_dir(path);
    if (!t) throw Error(path + " has no tokenizer.json or tokenizer.model");
    return t;
  }
  return from_bytes(read_file(path), path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_bytes(const std::string& bytes, const std::string& name) {
  try {
    bool json_format = ends_with(name, ".json");
    if (!json_format && !ends_with(name, ".model") && name.find(".model.") == std::string::npos) {
      const size_t first = bytes.find_first_not_of(" \t\r\n");
      json_format = first != std::string::npos && bytes[first] == '{';
    }
    return json_format ? load_hf_json(bytes, name) : load_sentencepiece(bytes, name);
  } catch (const Error& e) {
    // Messages from the JSON reader's typed accessors do not name the file.
    const std::string message = e.what();
    if (message.find(name) != std::string::npos) throw;
    throw Error(spm::printable(name + ": " + message));
  }
}

std::unique_ptr<Tokenizer> Tokenizer::load_from_dir(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.model.v3", "tokenizer.model.v2", "tokenizer.model.v1"}) {
    const std::string path = dir + "/" + name;
    if (is_file(path)) return load(path);
  }
  return nullptr;
}

std::string Tokenizer::StreamDecoder::push(int id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                std::to_string(tokenizer_.vocab_size()) + ")");
  }
  if (tokenizer_.is_control(id)) return {};
  const std::string bytes = tokenizer_.token_bytes(id);
  if (bytes.empty()) return {};
  pending_bytes_ += at_start_ ? tokenizer_.leading_token_bytes(id) : bytes;
  at_start_ = false;
  std::string text;
  const size_t used = append_utf8(pending_bytes_, false, text);
  pending_bytes_.erase(0, used);
  return text;
}

std::string Tokenizer::StreamDecoder::flush() {
  std::string text;
  append_utf8(pending_bytes_, true, text);
  pending_bytes_.clear();
  return text;
}

void Tokenizer::StreamDecoder::reset() {
  pending_bytes_.clear();
  at_start_ = start_;
}

}  // namespace tramontane
