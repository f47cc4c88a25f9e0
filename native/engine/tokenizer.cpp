// Tokenizer's entry points: find a tokenizer file, pick its loader, build the
// tokenizer. Which file owns what:
//   tokenizer_spec.h     TokenizerSpec, what every loader fills
//   tokenizer_json.cpp   tokenizer.json (Hugging Face tokenizers) → TokenizerSpec
//   tokenizer_model.cpp  tokenizer.model (SentencePiece ModelProto) → TokenizerSpec
//   bpe_tokenizer.cpp    TokenizerSpec → the tokenizer: encode and decode
//   bpe.h                the merge loop both formats share
//   stream_decoder.cpp   ids → text one token at a time
//   utf8.h               UTF-8 reading and decoding
#include "tramontane/tokenizer.h"

#include <string_view>

#include "config.h"
#include "sentencepiece_model.h"
#include "tokenizer_spec.h"
#include "tramontane/engine.h"

namespace tramontane {
namespace {

// Larger than any real tokenizer (Mistral's are a few MiB); a weights file passed by
// mistake is refused instead of read into memory.
constexpr size_t kMaxTokenizerBytes = size_t{1} << 30;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  if (files::is_directory(path)) {
    std::unique_ptr<Tokenizer> t = load_from_dir(path);
    if (!t) throw Error(path + " has no tokenizer.json or tokenizer.model");
    return t;
  }
  if (!files::is_file(path)) throw Error("cannot open tokenizer " + path + ": not found, or not a regular file");
  return from_bytes(files::read_text(path, kMaxTokenizerBytes), path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_bytes(const std::string& bytes, const std::string& name) {
  try {
    bool json_format = ends_with(name, ".json");
    if (!json_format && !ends_with(name, ".model") && name.find(".model.") == std::string::npos) {
      const size_t first = bytes.find_first_not_of(" \t\r\n");
      json_format = first != std::string::npos && bytes[first] == '{';
    }
    return make_tokenizer(json_format ? read_tokenizer_json(bytes, name) : read_tokenizer_model(bytes, name));
  } catch (const Error& e) {
    // Messages from the JSON reader's typed accessors do not name the file.
    const std::string message = e.what();
    if (message.find(name) != std::string::npos) throw;
    throw Error(spm::printable(name + ": " + message));
  }
}

std::unique_ptr<Tokenizer> Tokenizer::load_from_dir(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.model.v3", "tokenizer.model.v2", "tokenizer.model.v1"}) {
    const std::string path = files::join(dir, name);
    if (files::is_file(path)) return load(path);
  }
  return nullptr;
}

}  // namespace tramontane
