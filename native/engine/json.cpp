#include "json.h"

#include <cmath>
#include <cstdlib>

#include "tramontane/engine.h"

namespace tramontane::json {

// Recursive-descent parser over the whole text. Depth is bounded so a hostile file
// cannot overflow the stack.
class Parser {
 public:
  Parser(const std::string& text, const std::string& what) : text_(text), what_(what) {}

  Value parse_document() {
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected data after the end");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 256;

  [[noreturn]] void fail(const std::string& message) const {
    throw Error("invalid JSON in " + what_ + " at byte " + std::to_string(pos_) + ": " + message);
  }

  void skip_whitespace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
      ++pos_;
    }
  }

  char peek() {
    skip_whitespace();
    if (pos_ >= text_.size()) fail("unexpected end of input");
    return text_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void expect_word(const char* word) {
    for (const char* p = word; *p; ++p, ++pos_) {
      if (pos_ >= text_.size() || text_[pos_] != *p) fail(std::string("expected '") + word + "'");
    }
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    Value value;
    switch (peek()) {
      case '{': parse_object(value, depth); break;
      case '[': parse_array(value, depth); break;
      case '"':
        value.type_ = Value::Type::String;
        value.string_ = parse_string();
        break;
      case 't': expect_word("true"); value.type_ = Value::Type::Bool; value.bool_ = true; break;
      case 'f': expect_word("false"); value.type_ = Value::Type::Bool; break;
      case 'n': expect_word("null"); break;
      default:
        value.type_ = Value::Type::Number;
        value.number_ = parse_number();
    }
    return value;
  }

  void parse_object(Value& value, int depth) {
    value.type_ = Value::Type::Object;
    expect('{');
    if (peek() == '}') { ++pos_; return; }
    for (;;) {
      if (peek() != '"') fail("expected a member name");
      std::string key = parse_string();
      expect(':');
      Value member = parse_value(depth + 1);
      auto found = value.index_.find(key);
      if (found != value.index_.end()) {
        value.object_[found->second].second = std::move(member);  // last one wins
      } else {
        value.index_.emplace(key, value.object_.size());
        value.object_.emplace_back(std::move(key), std::move(member));
      }
      char c = peek();
      ++pos_;
      if (c == '}') return;
      if (c != ',') { --pos_; fail("expected ',' or '}'"); }
    }
  }

  void parse_array(Value& value, int depth) {
    value.type_ = Value::Type::Array;
    expect('[');
    if (peek() == ']') { ++pos_; return; }
    for (;;) {
      value.array_.push_back(parse_value(depth + 1));
      char c = peek();
      ++pos_;
      if (c == ']') return;
      if (c != ',') { --pos_; fail("expected ',' or ']'"); }
    }
  }

  double parse_number() {
    const char* begin = text_.c_str() + pos_;
    char* end = nullptr;
    double number = std::strtod(begin, &end);
    if (end == begin) fail("unexpected character");
    pos_ += static_cast<size_t>(end - begin);
    if (!std::isfinite(number)) fail("number out of range");
    return number;
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      code <<= 4;
      if (c >= '0' && c <= '9') code |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') code |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') code |= unsigned(c - 'A' + 10);
      else fail("bad \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += char(code);
    } else if (code < 0x800) {
      out += char(0xC0 | (code >> 6));
      out += char(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += char(0xE0 | (code >> 12));
      out += char(0x80 | ((code >> 6) & 0x3F));
      out += char(0x80 | (code & 0x3F));
    } else {
      out += char(0xF0 | (code >> 18));
      out += char(0x80 | ((code >> 12) & 0x3F));
      out += char(0x80 | ((code >> 6) & 0x3F));
      out += char(0x80 | (code & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= text_.size()) fail("unterminated string");
      char escape = text_[pos_++];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          // A surrogate pair encodes one code point above U+FFFF.
          if (code >= 0xD800 && code < 0xDC00 && pos_ + 6 <= text_.size() &&
              text_[pos_] == '\\' && text_[pos_ + 1] == 'u') {
            size_t save = pos_;
            pos_ += 2;
            unsigned low = parse_hex4();
            if (low >= 0xDC00 && low < 0xE000) {
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
              code = 0xFFFD;
            }
          } else if (code >= 0xD800 && code < 0xE000) {
            code = 0xFFFD;  // lone surrogate
          }
          append_utf8(out, code);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const std::string& text_;
  const std::string& what_;
  size_t pos_ = 0;
};

Value Value::parse(const std::string& text, const std::string& what) {
  return Parser(text, what).parse_document();
}

namespace {
const char* type_name(Value::Type type) {
  switch (type) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "?";
}

[[noreturn]] void wrong_type(const char* what, const char* wanted, Value::Type found) {
  throw Error(std::string(what) + " should be " + wanted + ", found " + type_name(found));
}
}  // namespace

bool Value::as_bool(const char* what) const {
  if (type_ != Type::Bool) wrong_type(what, "a boolean", type_);
  return bool_;
}

double Value::as_number(const char* what) const {
  if (type_ != Type::Number) wrong_type(what, "a number", type_);
  return number_;
}

int64_t Value::as_int(const char* what) const {
  double number = as_number(what);
  if (number != std::floor(number) || std::fabs(number) > 9.007199254740992e15) {
    throw Error(std::string(what) + " should be an integer");
  }
  return static_cast<int64_t>(number);
}

const std::string& Value::as_string(const char* what) const {
  if (type_ != Type::String) wrong_type(what, "a string", type_);
  return string_;
}

const std::vector<Value>& Value::as_array(const char* what) const {
  if (type_ != Type::Array) wrong_type(what, "an array", type_);
  return array_;
}

const std::vector<std::pair<std::string, Value>>& Value::as_object(const char* what) const {
  if (type_ != Type::Object) wrong_type(what, "an object", type_);
  return object_;
}

const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  auto found = index_.find(key);
  return found == index_.end() ? nullptr : &object_[found->second].second;
}

}  // namespace tramontane::json
