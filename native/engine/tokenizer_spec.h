// The tokenizer's description, as its loaders fill it: every loader (tokenizer.json,
// tokenizer.model, a GGUF file's metadata) reads its format into a TokenizerSpec, and
// make_tokenizer() builds the one BPE tokenizer from it. Nothing here depends on a file
// format.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sentencepiece_model.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

namespace tramontane {

inline constexpr std::string_view kMeta = "\xE2\x96\x81";  // "▁" U+2581, SentencePiece's space

// What a piece is, with SentencePiece's meanings (HF added tokens map to Control or
// UserDefined).
enum class PieceKind : uint8_t { Normal, Unknown, Control, UserDefined, Unused, Byte };

enum class DummyPrefix {
  Never,
  Always,           // SentencePiece's add_dummy_prefix, HF's Prepend("▁"): every segment
  MetaspaceAlways,  // HF Metaspace: every segment not already starting with "▁"
  MetaspaceFirst,   // HF Metaspace: only a segment at the start of the text, ditto
};

struct TokenizerSpec {
  std::string what;  // the file, for messages
  bool sentencepiece = false;  // merge rule: SentencePiece (scores) or HF (merges)
  std::vector<std::string> pieces;
  std::vector<PieceKind> kinds;
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
  DummyPrefix prefix = DummyPrefix::Always;
  std::string prefix_text{kMeta};
  std::string space{kMeta};  // what " " becomes; " " keeps spaces as they are
  bool split_words = false;  // HF Metaspace split: one BPE run per "▁word"
  bool strip_leading_space = true;  // decode drops the dummy prefix's space
};

// Builds the tokenizer (bpe_tokenizer.cpp). Throws a one-line Error naming spec.what
// when the spec is inconsistent (a byte piece not of the form <0xNN>, a special id out
// of range, a merge of pieces that are not in the vocabulary).
std::unique_ptr<Tokenizer> make_tokenizer(TokenizerSpec spec);

// The two file loaders: tokenizer_json.cpp and tokenizer_model.cpp. `path` names the
// file in messages.
TokenizerSpec read_tokenizer_json(const std::string& text, const std::string& path);
TokenizerSpec read_tokenizer_model(const std::string& bytes, const std::string& path);
// A SentencePiece model however it was read (a tokenizer.model, a GGUF file's metadata).
TokenizerSpec sentencepiece_spec(const spm::ModelProto& model, const std::string& path);

// A one-line Error "what: message", control characters escaped.
[[noreturn]] inline void tokenizer_fail(const std::string& what, const std::string& message) {
  throw Error(spm::printable(what + ": " + message));
}

// "<0x0A>" → 10; -1 when `piece` is not a byte piece.
inline int parse_byte_piece(std::string_view piece) {
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

// s with every `from` replaced by `to`.
inline std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
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

}  // namespace tramontane
