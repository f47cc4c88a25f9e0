// libFuzzer target: tokenizer.json (Hugging Face tokenizers). See tokenizer_target.h.
#include "tokenizer_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::run(data, size, "tokenizer.json");
}
