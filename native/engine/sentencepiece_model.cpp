#include "sentencepiece_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "tramontane/engine.h"

namespace tramontane::spm {
namespace {

// Protobuf wire types.
enum WireType : uint32_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5 };

// Walks one message's bytes. Every read either advances or throws, so a
// malformed file can neither crash the reader nor make it loop.
class WireReader {
 public:
  WireReader(const uint8_t* begin, const uint8_t* end, const uint8_t* file_begin, const std::string& what)
      : p_(begin), end_(end), file_begin_(file_begin), what_(what) {}

  bool done() const { return p_ >= end_; }

  // Reads a field key; returns false at the end of the message.
  bool next_field(uint32_t& field, uint32_t& wire) {
    if (done()) return false;
    const uint8_t* at = p_;
    uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    if (key >> 3 > 0x1FFFFFFF) fail_at(at, "field number out of range");
    if (field == 0) fail_at(at, "field number 0");
    if (wire == StartGroup || wire == EndGroup) fail_at(at, "group fields are not supported");
    if (wire > Fixed32) fail_at(at, "invalid wire type " + std::to_string(wire));
    return true;
  }

  uint64_t varint() {
    const uint8_t* at = p_;
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail_at(at, "truncated varint");
      uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) {
        // The tenth byte may only carry the top bit of a 64-bit value.
        if (shift == 63 && byte > 1) fail_at(at, "varint overflows 64 bits");
        return value;
      }
    }
    fail_at(at, "varint longer than 10 bytes");
  }

  uint32_t fixed32() {
    if (end_ - p_ < 4) fail_at(p_, "truncated fixed32");
    uint32_t v = static_cast<uint32_t>(p_[0]) | static_cast<uint32_t>(p_[1]) << 8 |
                 static_cast<uint32_t>(p_[2]) << 16 | static_cast<uint32_t>(p_[3]) << 24;
    p_ += 4;
    return v;
  }

  // A length-delimited payload, bounds-checked against this message's end.
  WireReader sub() {
    const uint8_t* at = p_;
    uint64_t length = varint();
    if (length > static_cast<uint64_t>(end_ - p_)) {
      fail_at(at, "length " + std::to_string(length) + " runs past the end of the data");
    }
    WireReader inner(p_, p_ + length, file_begin_, what_);
    p_ += length;
    return inner;
  }

  std::string string() {
    WireReader s = sub();
    return std::string(reinterpret_cast<const char*>(s.p_), s.end_ - s.p_);
  }

  size_t remaining() const { return end_ - p_; }
  const uint8_t* position() const { return p_; }

  void skip(uint32_t wire) {
    switch (wire) {
      case Varint: varint(); break;
      case Fixed64:
        if (end_ - p_ < 8) fail_at(p_, "truncated fixed64");
        p_ += 8;
        break;
      case LengthDelimited: sub(); break;
      case Fixed32: fixed32(); break;
      default: fail_at(p_, "invalid wire type " + std::to_string(wire));
    }
  }

  // Checks that a field arrived with the wire type its declaration implies.
  void expect(uint32_t wire, uint32_t wanted, const char* field_name) {
    if (wire != wanted) {
      fail_at(p_, std::string("field ") + field_name + " has wire type " + std::to_string(wire) +
                      ", expected " + std::to_string(wanted));
    }
  }

  int32_t int32() { return static_cast<int32_t>(static_cast<int64_t>(varint())); }
  bool boolean() { return varint() != 0; }
  float float32() {
    uint32_t bits = fixed32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }

  [[noreturn]] void fail_at(const uint8_t* at, const std::string& message) const {
    throw Error(printable(what_ + ": corrupt SentencePiece model: " + message + " at byte " +
                          std::to_string(at - file_begin_)));
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* file_begin_;
  const std::string& what_;
};

Piece parse_piece(WireReader r) {
  Piece piece;
  uint32_t field, wire;
  while (r.next_field(field, wire)) {
    switch (field) {
      case 1: r.expect(wire, LengthDelimited, "piece"); piece.piece = r.string(); break;
      case 2: r.expect(wire, Fixed32, "score"); piece.score = r.float32(); break;
      case 3: {
        r.expect(wire, Varint, "type");
        int32_t type = r.int32();
        if (type < 1 || type > 6) r.fail_at(r.position(), "unknown piece type " + std::to_string(type));
        piece.type = static_cast<PieceType>(type);
        break;
      }
      default: r.skip(wire);
    }
  }
  return piece;
}

void parse_trainer_spec(WireReader r, ModelProto& model) {
  uint32_t field, wire;
  while (r.next_field(field, wire)) {
    switch (field) {
      case 3: {
        r.expect(wire, Varint, "model_type");
        int32_t type = r.int32();
        if (type < 1 || type > 4) r.fail_at(r.position(), "unknown model_type " + std::to_string(type));
        model.model_type = static_cast<ModelType>(type);
        break;
      }
      case 24: r.expect(wire, Varint, "treat_whitespace_as_suffix"); model.treat_whitespace_as_suffix = r.boolean(); break;
      case 35: r.expect(wire, Varint, "byte_fallback"); model.byte_fallback = r.boolean(); break;
      case 40: r.expect(wire, Varint, "unk_id"); model.unk_id = r.int32(); break;
      case 41: r.expect(wire, Varint, "bos_id"); model.bos_id = r.int32(); break;
      case 42: r.expect(wire, Varint, "eos_id"); model.eos_id = r.int32(); break;
      case 43: r.expect(wire, Varint, "pad_id"); model.pad_id = r.int32(); break;
      case 44: r.expect(wire, LengthDelimited, "unk_surface"); model.unk_surface = r.string(); break;
      default: r.skip(wire);
    }
  }
}

void parse_normalizer_spec(WireReader r, ModelProto& model) {
  uint32_t field, wire;
  while (r.next_field(field, wire)) {
    switch (field) {
      case 1: r.expect(wire, LengthDelimited, "name"); model.normalizer_name = r.string(); break;
      case 2: r.expect(wire, LengthDelimited, "precompiled_charsmap"); model.has_precompiled_charsmap = r.sub().remaining() > 0; break;
      case 3: r.expect(wire, Varint, "add_dummy_prefix"); model.add_dummy_prefix = r.boolean(); break;
      case 4: r.expect(wire, Varint, "remove_extra_whitespaces"); model.remove_extra_whitespaces = r.boolean(); break;
      case 5: r.expect(wire, Varint, "escape_whitespaces"); model.escape_whitespaces = r.boolean(); break;
      default: r.skip(wire);
    }
  }
}

[[noreturn]] void invalid(const std::string& what, const std::string& message) {
  throw Error(printable(what + ": invalid SentencePiece model: " + message));
}

}  // namespace

std::string printable(const std::string& text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 8);
  for (unsigned char c : text) {
    if (out.size() >= max && (c & 0xC0) != 0x80) {  // cut between characters
      out += "...";
      break;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

ModelProto parse_model(const std::string& bytes, const std::string& what) {
  if (bytes.empty()) invalid(what, "the file is empty");
  const auto* begin = reinterpret_cast<const uint8_t*>(bytes.data());
  WireReader r(begin, begin + bytes.size(), begin, what);
  ModelProto model;
  bool saw_trainer = false;
  uint32_t field, wire;
  while (r.next_field(field, wire)) {
    switch (field) {
      case 1: r.expect(wire, LengthDelimited, "pieces"); model.pieces.push_back(parse_piece(r.sub())); break;
      case 2: r.expect(wire, LengthDelimited, "trainer_spec"); parse_trainer_spec(r.sub(), model); saw_trainer = true; break;
      case 3: r.expect(wire, LengthDelimited, "normalizer_spec"); parse_normalizer_spec(r.sub(), model); break;
      default: r.skip(wire);
    }
  }

  const int n = static_cast<int>(model.pieces.size());
  if (n == 0) invalid(what, "no pieces");
  if (!saw_trainer) invalid(what, "no trainer_spec");
  std::unordered_set<std::string_view> seen;
  seen.reserve(model.pieces.size() * 2);
  int unknowns = 0;
  for (int id = 0; id < n; ++id) {
    const Piece& p = model.pieces[id];
    if (p.piece.empty()) invalid(what, "piece " + std::to_string(id) + " is empty");
    if (!seen.insert(p.piece).second) invalid(what, "piece \"" + p.piece + "\" is defined twice");
    if (std::isnan(p.score)) invalid(what, "piece " + std::to_string(id) + " has a NaN score");
    if (p.type == PieceType::Unknown) ++unknowns;
  }
  if (model.unk_id < 0 || model.unk_id >= n) invalid(what, "unk_id " + std::to_string(model.unk_id) + " is out of range");
  if (model.pieces[model.unk_id].type != PieceType::Unknown) {
    invalid(what, "unk_id " + std::to_string(model.unk_id) + " is not of type UNKNOWN");
  }
  if (unknowns != 1) invalid(what, std::to_string(unknowns) + " pieces of type UNKNOWN (expected one)");
  for (auto [name, id] : {std::pair<const char*, int>{"bos_id", model.bos_id}, {"eos_id", model.eos_id}, {"pad_id", model.pad_id}}) {
    if (id < -1 || id >= n) invalid(what, std::string(name) + " " + std::to_string(id) + " is out of range");
  }
  return model;
}

}  // namespace tramontane::spm
