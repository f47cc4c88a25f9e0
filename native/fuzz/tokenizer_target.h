// What the two tokenizer targets do with an input: load it as the named file, and
// when it loads, use it. Encoding and decoding run on a fixed text and on the input
// itself, and the streaming decoder must give back exactly what decode() gives (the
// contract in tramontane/tokenizer.h): a difference aborts, like a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

namespace fuzz {

inline void use(const tramontane::Tokenizer& t, const std::string& text) {
  for (bool parse_special : {false, true}) {
    const std::vector<int> ids = t.encode(text, true, parse_special);
    for (int id : ids) {
      if (id < 0 || id >= t.vocab_size()) std::abort();
    }
    const std::string whole = t.decode(ids);
    (void)t.decode(ids, true);
    tramontane::Tokenizer::StreamDecoder stream(t);
    std::string streamed;
    for (int id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    if (streamed != whole) std::abort();
  }
}

inline int run(const uint8_t* data, size_t size, const char* name) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<tramontane::Tokenizer> t;
  try {
    t = tramontane::Tokenizer::from_bytes(bytes, name);
  } catch (const tramontane::Error&) {
    return 0;
  }
  try {
    use(*t, "Hello [INST] world\n\tdef f(x):  return x\xE2\x96\x81\xC3\xA9\xF0\x9F\x98\x80\xFF<s>");
    use(*t, bytes.substr(0, 256));
    for (int id = 0; id < t->vocab_size() && id < 512; ++id) {
      (void)t->piece(id);
      (void)t->is_control(id);
      if (t->token_id(t->piece(id)) < 0 && !t->piece(id).empty()) std::abort();
    }
  } catch (const tramontane::Error&) {
    // Some vocabularies cannot encode some text (no byte fallback, no unknown token).
  }
  return 0;
}

}  // namespace fuzz
