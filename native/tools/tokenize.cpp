// tramontane-tokenize: encode or decode with a tokenizer.json / tokenizer.model and
// print the result as JSON. For people, and for tests that compare the tokenizer
// with other implementations without the Node addon.
//
//   tramontane-tokenize --tokenizer PATH_OR_DIR [--bos] [--special] [--pieces] TEXT
//   tramontane-tokenize --tokenizer PATH_OR_DIR --file FILE
//   tramontane-tokenize --tokenizer PATH_OR_DIR --decode 1,2,3
//   tramontane-tokenize --tokenizer PATH_OR_DIR --stdin-json
//
// --stdin-json reads a JSON array from standard input and prints an array of
// results: a string element is encoded, an array of ids is decoded.
//
// Encoding prints {"ids": [...], "text": decode(ids), "stream": [...]}, where
// "stream" holds what a StreamDecoder returned for each id, then its flush.
// Decoding prints {"text": ..., "stream": [...]}. --special parses control tokens
// written in the text and keeps them when decoding. Every object also carries
// vocab_size, bos_id and eos_id.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "json.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

namespace {

using tramontane::Error;
using tramontane::Tokenizer;

// A JSON string literal; bytes that are not UTF-8 become \ufffd.
void write_string(std::string& out, const std::string& s) {
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: out += "\\u00"; out += hex[c >> 4]; out += hex[c & 15];
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
      bool ok = len > 0 && i + len <= n;
      for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
      if (ok && len == 3) ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] > 0x9F);
      if (ok && len == 4) ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] > 0x8F);
      if (ok) {
        out.append(s, i, len);
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  out += '"';
}

void write_ids(std::string& out, const std::vector<int>& ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
}

void write_result(std::string& out, const Tokenizer& tokenizer, const std::vector<int>& ids, bool encoded,
                  bool special, bool pieces) {
  out += '{';
  if (encoded) {
    out += "\"ids\":";
    write_ids(out, ids);
    out += ',';
  }
  if (pieces) {
    out += "\"pieces\":[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      write_string(out, tokenizer.piece(ids[i]));
    }
    out += "],";
  }
  out += "\"text\":";
  write_string(out, tokenizer.decode(ids, special));
  out += ",\"stream\":[";
  Tokenizer::StreamDecoder stream(tokenizer);
  for (int id : ids) {
    write_string(out, stream.push(id));
    out += ',';
  }
  write_string(out, stream.flush());
  out += "],\"vocab_size\":" + std::to_string(tokenizer.vocab_size());
  out += ",\"bos_id\":" + std::to_string(tokenizer.bos_id());
  out += ",\"eos_id\":" + std::to_string(tokenizer.eos_id());
  out += '}';
}

std::vector<int> parse_ids(const std::string& list) {
  std::vector<int> ids;
  size_t i = 0;
  while (i <= list.size()) {
    size_t comma = list.find(',', i);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(i, comma - i);
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < -2147483647L || value > 2147483647L) {
      throw Error("--decode wants comma-separated token ids, got \"" + item + "\"");
    }
    ids.push_back(static_cast<int>(value));
    i = comma + 1;
  }
  return ids;
}

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int usage() {
  std::fprintf(stderr,
               "usage: tramontane-tokenize --tokenizer PATH_OR_DIR [--bos] [--special] [--pieces]\n"
               "                           (TEXT | --file FILE | --decode 1,2,3 | --stdin-json)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, file, decode_list, text;
  bool have_text = false, have_decode = false, bos = false, special = false, pieces = false, stdin_json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) return false;
      into = argv[++i];
      return true;
    };
    if (arg == "--tokenizer") {
      if (!value(tokenizer_path)) return usage();
    } else if (arg == "--file") {
      if (!value(file)) return usage();
    } else if (arg == "--decode") {
      if (!value(decode_list)) return usage();
      have_decode = true;
    } else if (arg == "--bos") {
      bos = true;
    } else if (arg == "--special") {
      special = true;
    } else if (arg == "--pieces") {
      pieces = true;
    } else if (arg == "--stdin-json") {
      stdin_json = true;
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (arg == "--") {
      if (i + 1 < argc) { text = argv[++i]; have_text = true; }
    } else if (arg.size() > 1 && arg[0] == '-' && arg[1] == '-') {
      std::fprintf(stderr, "tramontane-tokenize: unknown option %s\n", arg.c_str());
      return usage();
    } else {
      if (have_text) return usage();
      text = arg;
      have_text = true;
    }
  }
  const int inputs = have_text + !file.empty() + have_decode + stdin_json;
  if (tokenizer_path.empty() || inputs != 1) return usage();

  try {
    const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::load(tokenizer_path);
    std::string out;
    if (have_decode) {
      write_result(out, *tokenizer, parse_ids(decode_list), false, special, pieces);
    } else if (stdin_json) {
      const tramontane::json::Value texts = tramontane::json::Value::parse(read_all(std::cin), "standard input");
      out += '[';
      bool first = true;
      for (const auto& item : texts.as_array("standard input")) {
        if (!first) out += ',';
        first = false;
        if (item.is_array()) {
          std::vector<int> ids;
          for (const auto& id : item.as_array()) {
            const int64_t value = id.as_int("a token id");
            if (value < INT32_MIN || value > INT32_MAX) throw Error("token id " + std::to_string(value) + " is out of range");
            ids.push_back(static_cast<int>(value));
          }
          write_result(out, *tokenizer, ids, false, special, pieces);
        } else {
          write_result(out, *tokenizer, tokenizer->encode(item.as_string("each input"), bos, special), true, special, pieces);
        }
      }
      out += ']';
    } else {
      if (!file.empty()) {
        std::ifstream in(file, std::ios::binary);
        if (!in) throw Error("cannot open " + file);
        text = read_all(in);
      }
      write_result(out, *tokenizer, tokenizer->encode(text, bos, special), true, special, pieces);
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tramontane-tokenize: %s\n", e.what());
    return 1;
  }
}
