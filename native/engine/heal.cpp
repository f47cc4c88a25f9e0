// HealMask: the first-token constraint of token healing (see heal.h).
#include "heal.h"

#include <limits>

#include "tramontane/engine.h"

namespace tramontane {

HealMask::HealMask(const Tokenizer& tokenizer) : text_(size_t(tokenizer.vocab_size())) {
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    if (!tokenizer.is_control(id)) text_[size_t(id)] = tokenizer.token_bytes(id);
  }
}

const std::string& HealMask::text_of(int heal_token) const {
  if (heal_token < 0 || size_t(heal_token) >= text_.size()) {
    throw Error("heal token " + std::to_string(heal_token) + " is out of range (vocabulary of " +
                std::to_string(text_.size()) + ")");
  }
  const std::string& text = text_[size_t(heal_token)];
  if (text.empty()) {
    throw Error("heal token " + std::to_string(heal_token) +
                " is a control token or has no text: only text can be healed");
  }
  return text;
}

void HealMask::apply(const std::string& text, const float* logits, float* out) const {
  const float blocked = -std::numeric_limits<float>::infinity();
  for (size_t id = 0; id < text_.size(); ++id) {
    const std::string& piece = text_[id];
    const bool allowed = !piece.empty() && piece.compare(0, text.size(), text) == 0;
    out[id] = allowed ? logits[id] : blocked;
  }
}

}  // namespace tramontane
