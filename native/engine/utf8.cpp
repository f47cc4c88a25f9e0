#include "utf8.h"

namespace tramontane {

size_t utf8_char(const unsigned char* s, size_t n, uint32_t& cp) {
  const unsigned char c = s[0];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = s[k];
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  return len;
}

size_t append_utf8(std::string_view bytes, bool final, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      size_t j = i + 1;
      while (j < n && s[j] < 0x80) ++j;
      out.append(bytes.data() + i, j - i);
      i = j;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out.append(kReplacementChar);
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool bad = false;
    for (size_t k = 0; k < need; ++k, ++j) {
      if (j >= n) {
        if (!final) return i;
        out.append(kReplacementChar);
        return n;
      }
      if (s[j] < lo || s[j] > hi) {
        bad = true;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
    }
    if (bad) {
      out.append(kReplacementChar);  // the offending byte starts the next round
    } else {
      out.append(bytes.data() + i, j - i);
    }
    i = j;
  }
  return n;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace tramontane
