// libFuzzer target for the GGUF reader: any bytes must parse or give a one-line
// tramontane::Error, never crash, hang or read outside the input. Parsed files are also
// walked the way the loader walks them (typed metadata, string arrays, tensor data).
// Seeds: native/fuzz/corpus/gguf (llama.cpp's fixtures' headers and CVE-shaped inputs).
#include <cstddef>
#include <cstdint>
#include <string>

#include "gguf.h"
#include "tramontane/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tramontane::gguf::File file(data, size, "fuzz.gguf");
    for (const auto& [key, value] : file.metadata()) {
      if (value.type == tramontane::gguf::ValueType::Array) {
        try {
          if (value.element_type == tramontane::gguf::ValueType::String) (void)file.strings(key);
          if (value.element_type == tramontane::gguf::ValueType::F32) (void)file.floats(key);
          (void)file.int32s(key);
        } catch (const tramontane::Error&) {
        }
      }
    }
    uint8_t sink = 0;
    for (const auto& t : file.tensors()) {
      if (t.nbytes) sink ^= t.data[0] ^ t.data[t.nbytes - 1];
    }
    (void)sink;
  } catch (const tramontane::Error&) {
  }
  return 0;
}
