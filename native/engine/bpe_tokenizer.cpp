// The tokenizer itself: SentencePiece BPE with byte fallback, built from a
// TokenizerSpec (tokenizer_spec.h) whichever file it came from.
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
#include <algorithm>
#include <array>
#include <atomic>
#include <string_view>
#include <unordered_map>

#include "bpe.h"
#include "tokenizer_spec.h"
#include "utf8.h"

namespace tramontane {
namespace {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(TokenizerSpec spec);

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
    return id >= 0 && id < vocab_size() && kinds_[id] == PieceKind::Control;
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

  void build_pairs_from_merges(const TokenizerSpec& spec);
  void build_pairs_from_scores(const TokenizerSpec& spec);
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
  std::vector<PieceKind> kinds_;
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
  DummyPrefix prefix_ = DummyPrefix::Always;
  std::string prefix_text_;
  std::string space_;
  bool split_words_ = false;
  bool strip_leading_space_ = true;
};

BpeTokenizer::BpeTokenizer(TokenizerSpec spec)
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
      case PieceKind::Byte: {
        const int b = parse_byte_piece(p);
        if (b < 0) tokenizer_fail(what_, "byte piece " + std::to_string(id) + " \"" + p + "\" is not of the form <0xNN>");
        byte_ids_[b] = id;
        bytes_[id] = std::string(1, static_cast<char>(b));
        break;
      }
      case PieceKind::Control: break;
      case PieceKind::Unknown: bytes_[id] = spec.unk_surface; break;
      case PieceKind::Normal:
      case PieceKind::UserDefined:
      case PieceKind::Unused: {
        bytes_[id] = replace_all(p, kMeta, " ");
        leading_[id] = strip_leading_space_ && !bytes_[id].empty() && bytes_[id][0] == ' ';
        uint32_t cp;
        const size_t len = utf8_char(reinterpret_cast<const unsigned char*>(p.data()), p.size(), cp);
        if (len != 0 && len == p.size()) {
          if (cp < 128) ascii_[cp] = id;
          else chars_[cp] = id;
        }
        if (kinds_[id] == PieceKind::Unused) has_unused_ = true;
        break;
      }
    }
  }
  if (unk_id_ >= n || bos_id_ >= n || eos_id_ >= n) tokenizer_fail(what_, "a special token id is out of range");
  if (!spec.sentencepiece) has_unused_ = false;

  // Special tokens.
  for (int id = 0; id < n; ++id) {
    const std::string& p = pieces_[id];
    if (p.empty()) continue;
    const PieceKind k = kinds_[id];
    if (k == PieceKind::Control) {
      specials_[std::string_view(pieces_[id])] = id;
      special_first_[static_cast<uint8_t>(p[0])] |= 1;
    } else if (k == PieceKind::UserDefined) {
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
    const PieceKind k = kinds_[id];
    if (k != PieceKind::Normal && k != PieceKind::Unused && k != PieceKind::UserDefined) continue;
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

void BpeTokenizer::build_pairs_from_merges(const TokenizerSpec& spec) {
  mergeable_.assign(pieces_.size(), 0);
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const std::string& a = spec.merges[rank].first;
    const std::string& b = spec.merges[rank].second;
    auto describe = [&] { return "merge " + std::to_string(rank) + " (\"" + a + "\", \"" + b + "\")"; };
    const int left = token_id(a);
    const int right = token_id(b);
    if (left < 0) tokenizer_fail(what_, describe() + ": \"" + a + "\" is not in the vocabulary");
    if (right < 0) tokenizer_fail(what_, describe() + ": \"" + b + "\" is not in the vocabulary");
    const int result = token_id(a + b);
    if (result < 0) tokenizer_fail(what_, describe() + ": \"" + a + b + "\" is not in the vocabulary");
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
  const PieceKind k = kinds_[it->second];
  return (k == PieceKind::Normal || k == PieceKind::Unused) ? it->second : -1;
}

// SentencePiece: two symbols merge when their concatenation is a piece (NORMAL,
// USER_DEFINED or UNUSED), the piece of highest score first. Every split of every
// such piece into two symbols is a pair; its rank is the piece's place in score order.
void BpeTokenizer::build_pairs_from_scores(const TokenizerSpec& spec) {
  const int n = vocab_size();
  std::vector<int> order;
  for (int id = 0; id < n; ++id) {
    const PieceKind k = kinds_[id];
    if ((k == PieceKind::Normal || k == PieceKind::UserDefined || k == PieceKind::Unused) && count_chars(pieces_[id]) >= 2) {
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
      if (len == 0) tokenizer_fail(what_, "piece " + std::to_string(id) + " is not valid UTF-8");
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
    case DummyPrefix::Never: break;
    case DummyPrefix::Always: prefix = true; break;
    case DummyPrefix::MetaspaceAlways: prefix = !starts_with_space; break;
    case DummyPrefix::MetaspaceFirst: prefix = at_text_start && !starts_with_space; break;
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
    if (it != ids_.end() && kinds_[it->second] == PieceKind::Normal) {
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
  if (unk_id_ < 0) tokenizer_fail(what_, "cannot encode a character: no byte fallback and no unknown token");
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
  if (n.left >= 0 && n.id < vocab_size() && kinds_[n.id] == PieceKind::Unused) {
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
    for (int32_t id : symbols) unused = unused || (id < vocab_size() && kinds_[id] == PieceKind::Unused);
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
    if (kinds_[id] == PieceKind::Control) {
      if (keep_special) {
        raw += pieces_[id];
        // Text after a control token was encoded as its own segment, with its own
        // dummy prefix when every segment gets one.
        if (prefix_ == DummyPrefix::Always) at_start = true;
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

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(TokenizerSpec spec) {
  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace tramontane
