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

// --backend's value: auto, cpu or cuda.
inline BackendKind parse_backend(const std::string& text) {
  if (text == "auto") return BackendKind::Auto;
  if (text == "cpu") return BackendKind::Cpu;
  if (text == "cuda") return BackendKind::Cuda;
  throw Error("--backend expects auto, cpu or cuda, got \"" + text + "\"");
}

}  // namespace tramontane::tools
