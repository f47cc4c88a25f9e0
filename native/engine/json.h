// A small JSON reader for config.json, params.json, tokenizer.json and the
// safetensors headers. Read-only: the engine never writes JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tramontane::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  // Throws tramontane::Error("invalid JSON in <what> at byte N: ...").
  static Value parse(const std::string& text, const std::string& what = "JSON");

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; throws tramontane::Error naming `what` when the type is wrong.
  bool as_bool(const char* what = "value") const;
  double as_number(const char* what = "value") const;
  int64_t as_int(const char* what = "value") const;  // must be integral
  const std::string& as_string(const char* what = "value") const;
  const std::vector<Value>& as_array(const char* what = "value") const;
  // Object members in file order.
  const std::vector<std::pair<std::string, Value>>& as_object(const char* what = "value") const;

  // Object lookup; null when absent or when this is not an object.
  const Value* find(const std::string& key) const;

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
  std::map<std::string, size_t> index_;  // key → position in object_

  friend class Parser;
};

}  // namespace tramontane::json
