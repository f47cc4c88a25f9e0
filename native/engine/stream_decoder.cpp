// Tokenizer::StreamDecoder: token ids in, whole UTF-8 characters out (the contract
// is in tramontane/tokenizer.h).
#include <algorithm>
#include <string>

#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"
#include "utf8.h"

namespace tramontane {

std::string Tokenizer::StreamDecoder::push(int id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                std::to_string(tokenizer_.vocab_size()) + ")");
  }
  if (tokenizer_.is_control(id)) return {};
  std::string bytes = tokenizer_.token_bytes(id);
  if (bytes.empty()) return {};
  if (skip_bytes_ > 0) {
    const size_t skipped = std::min(skip_bytes_, bytes.size());
    bytes.erase(0, skipped);
    skip_bytes_ -= skipped;
  }
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

}  // namespace tramontane
