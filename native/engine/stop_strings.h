// Streaming stop strings: text is released only when no stop string could still start
// inside it, and cut right before the first stop string that appears.
//
// Example, stop "\n\n": push("foo\n") → "foo" ("\n" is held: it may begin "\n\n");
// push("bar") → "\nbar"; push("\n\nbaz") → "" and matched(): the text ends at "bar".
#pragma once

#include <string>
#include <vector>

namespace tramontane {

class StopStrings {
 public:
  explicit StopStrings(const std::vector<std::string>& stops);  // empty strings ignored

  // Adds text, returns what can be released now. Once matched(), returns "" forever.
  std::string push(const std::string& text);
  // At the end of generation: the held-back text (no stop string can complete now).
  std::string flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
};

}  // namespace tramontane
