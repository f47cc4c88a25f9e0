#include "tokenizer_gguf.h"

#include <cmath>
#include <unordered_set>

#include "tokenizer_spec.h"
#include "tramontane/engine.h"

namespace tramontane {

void check_sentencepiece_model(const spm::ModelProto& model, const std::string& what) {
  const int n = int(model.pieces.size());
  auto fail = [&](const std::string& message) { throw Error(spm::printable(what + ": " + message)); };
  if (n == 0) fail("no pieces");
  std::unordered_set<std::string_view> seen;
  seen.reserve(model.pieces.size() * 2);
  int unknowns = 0;
  for (int id = 0; id < n; ++id) {
    const spm::Piece& p = model.pieces[size_t(id)];
    if (p.piece.empty()) fail("piece " + std::to_string(id) + " is empty");
    if (!seen.insert(p.piece).second) fail("piece \"" + p.piece + "\" is defined twice");
    if (std::isnan(p.score)) fail("piece " + std::to_string(id) + " has a NaN score");
    if (p.type == spm::PieceType::Unknown) ++unknowns;
  }
  if (model.unk_id < 0 || model.unk_id >= n) fail("unknown_token_id " + std::to_string(model.unk_id) + " is out of range");
  if (model.pieces[size_t(model.unk_id)].type != spm::PieceType::Unknown) {
    fail("unknown_token_id " + std::to_string(model.unk_id) + " is not of type UNKNOWN");
  }
  if (unknowns != 1) fail(std::to_string(unknowns) + " pieces of type UNKNOWN (expected one)");
  for (auto [name, id] : {std::pair<const char*, int>{"bos_token_id", model.bos_id}, {"eos_token_id", model.eos_id}}) {
    if (id < -1 || id >= n) fail(std::string(name) + " " + std::to_string(id) + " is out of range");
  }
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const gguf::File& file) {
  const std::optional<std::string> kind = file.string("tokenizer.ggml.model");
  if (!kind) return nullptr;
  const std::string what = file.name() + " tokenizer";
  if (*kind != "llama") {
    throw Error(what + ": tokenizer.ggml.model \"" + spm::printable(*kind, 40) +
                "\" is not supported (only \"llama\", SentencePiece)");
  }
  const std::optional<std::vector<std::string>> tokens = file.strings("tokenizer.ggml.tokens");
  if (!tokens) throw Error(what + ": tokenizer.ggml.tokens is missing");
  const size_t n = tokens->size();
  if (n > (1u << 24)) throw Error(what + ": " + std::to_string(n) + " tokens is too many");
  const std::vector<float> scores = file.floats("tokenizer.ggml.scores").value_or(std::vector<float>(n, 0.f));
  const std::vector<int32_t> types = file.int32s("tokenizer.ggml.token_type").value_or(std::vector<int32_t>(n, 1));
  if (scores.size() != n) {
    throw Error(what + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }
  if (types.size() != n) {
    throw Error(what + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }

  spm::ModelProto model;
  model.model_type = spm::ModelType::Bpe;
  model.pieces.resize(n);
  for (size_t id = 0; id < n; ++id) {
    spm::Piece& p = model.pieces[id];
    p.piece = (*tokens)[id];
    p.score = scores[id];
    const int32_t type = types[id];
    if (type == 0) {
      p.type = spm::PieceType::Normal;  // llama.cpp's "undefined"
    } else if (type >= 1 && type <= 6) {
      p.type = spm::PieceType(type);
    } else {
      throw Error(what + ": token " + std::to_string(id) + " has an unknown token_type " + std::to_string(type));
    }
    if (p.type == spm::PieceType::Byte) model.byte_fallback = true;
  }
  auto id_or = [&](const char* key, int fallback) {
    const std::optional<int64_t> v = file.integer(key);
    if (!v) return fallback;
    if (*v < -1 || *v >= int64_t(n)) {
      throw Error(what + ": " + key + " " + std::to_string(*v) + " is out of range (" + std::to_string(n) + " tokens)");
    }
    return int(*v);
  };
  model.unk_id = id_or("tokenizer.ggml.unknown_token_id", 0);
  model.bos_id = id_or("tokenizer.ggml.bos_token_id", 1);
  model.eos_id = id_or("tokenizer.ggml.eos_token_id", 2);
  model.add_dummy_prefix = file.boolean("tokenizer.ggml.add_space_prefix").value_or(true);
  model.remove_extra_whitespaces = file.boolean("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  model.escape_whitespaces = true;
  check_sentencepiece_model(model, what);
  return make_tokenizer(sentencepiece_spec(model, what));
}

}  // namespace tramontane
