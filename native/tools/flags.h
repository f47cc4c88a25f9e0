// Command-line values of the native tools, each a one-line Error naming the flag.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <string>

#include "tramontane/engine.h"

namespace tramontane::tools {

// A whole decimal integer in [min, max].
inline int parse_int(const std::string& flag, const std::string& text, long min, long max) {
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max) {
    throw Error(flag + " expects an integer in [" + std::to_string(min) + ", " +
                std::to_string(max) + "], got \"" + text + "\"");
  }
  return int(value);
}

}  // namespace tramontane::tools
