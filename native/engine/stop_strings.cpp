#include "stop_strings.h"

#include <algorithm>

namespace tramontane {

StopStrings::StopStrings(const std::vector<std::string>& stops) {
  for (const auto& s : stops) {
    if (!s.empty()) stops_.push_back(s);
  }
}

std::string StopStrings::push(const std::string& text) {
  if (matched_) return "";
  held_ += text;
  // A match can only begin inside held_: anything released earlier could not have
  // started a stop string.
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    matched_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold the longest tail of held_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t len = std::min(s.size() - 1, held_.size()); len > hold; --len) {
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopStrings::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace tramontane
