// UTF-8 as the tokenizer needs it: one character at a time while cutting text into
// symbols, and decoded bytes turned into text exactly as the WHATWG decoder
// (TextDecoder) turns them, so the engine and the editor agree on every U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tramontane {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Decodes the well-formed UTF-8 character at s[0..n); returns its length, or 0 when
// the bytes there are not a well-formed character.
size_t utf8_char(const unsigned char* s, size_t n, uint32_t& cp);

// Appends the text of `bytes` to `out`, each maximal ill-formed subsequence replaced
// by one U+FFFD (the WHATWG Encoding Standard's UTF-8 decoder, which TextDecoder and
// the oracle use). When `final` is false, an incomplete but so far valid sequence at
// the end is left for later. Returns the number of bytes consumed.
size_t append_utf8(std::string_view bytes, bool final, std::string& out);

// Characters in well-formed UTF-8 (bytes that are not continuation bytes).
size_t count_chars(std::string_view s);

}  // namespace tramontane
