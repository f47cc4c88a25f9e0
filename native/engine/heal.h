// Token healing. A completion prompt ends at the cursor, often inside what the tokenizer
// spells as one token once the text goes on: `require("./util"` ends in a lone `"`
// where the finished line reads `");`, one token. A model that learned from whole files
// has seldom seen `"` followed by `);` as two tokens, so after the lone `"` it guesses
// badly. The caller takes the prompt's last token off and names it as the heal token;
// the first token is then picked only among those whose text begins with the heal
// token's text (`"`, `")`, `");`, … and the model prefers `");`), and the output leaves
// that text out, so it still starts at the cursor.
//
// Worked example, the demo model, prompt `x = f("a"`: tokens … `▁f` `("` `a` `"`.
// Unhealed, it goes on with ` * 2`. Healed: the prompt is … `▁f` `("` `a`, the heal text
// `"`; allowed first tokens: `"` itself, `")`, `");`, `",` …; the model picks `")`, and the
// output is `)` (the quote was already typed).
#pragma once

#include <string>
#include <vector>

#include "tramontane/tokenizer.h"

namespace tramontane {

class HealMask {
 public:
  // Reads every token's text once (about 8 ms for a vocabulary of 32,768 on the 2-core
  // development machine): the model keeps one for all its sessions (LoadedModel::heal_mask).
  explicit HealMask(const Tokenizer& tokenizer);

  // The text the heal token stands for; throws a one-line Error for an id out of range,
  // a control token or a token without text.
  const std::string& text_of(int heal_token) const;

  // `out` = `logits` with every token whose text does not begin with `text` (and every
  // control token) set to −inf; the vocabulary's size each.
  void apply(const std::string& text, const float* logits, float* out) const;

 private:
  std::vector<std::string> text_;  // token_bytes of each id; empty for control tokens
};

}  // namespace tramontane
