#include "gguf.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "config.h"
#include "tramontane/engine.h"

namespace tramontane::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "uint8";
    case ValueType::I8: return "int8";
    case ValueType::U16: return "uint16";
    case ValueType::I16: return "int16";
    case ValueType::U32: return "uint32";
    case ValueType::I32: return "int32";
    case ValueType::F32: return "float32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::U64: return "uint64";
    case ValueType::I64: return "int64";
    case ValueType::F64: return "float64";
  }
  return "?";
}

namespace {

// Every type ggml defines, with its block shape: the parser sizes tensors of types
// the engine cannot compute with too, so that such a file is reported by tensor and
// type rather than as malformed.
constexpr GgmlType kTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},       {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 36},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},   {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},     {40, "NVFP4", 64, 36},
    {41, "Q1_0", 128, 18},     {42, "Q2_0", 64, 18},
};

constexpr struct {
  uint32_t id;
  StoredType stored;
} kEngineTypes[] = {
    {0, StoredType::F32},   {1, StoredType::F16},   {30, StoredType::BF16}, {8, StoredType::Q8_0},
    {2, StoredType::Q4_0},  {3, StoredType::Q4_1},  {6, StoredType::Q5_0},  {7, StoredType::Q5_1},
    {12, StoredType::Q4_K}, {13, StoredType::Q5_K}, {14, StoredType::Q6_K}, {20, StoredType::IQ4_NL},
    {23, StoredType::IQ4_XS}, {10, StoredType::Q2_K}, {11, StoredType::Q3_K},
};

constexpr uint64_t kMaxStringBytes = 1u << 20;  // a key, a tensor name or one token
constexpr uint64_t kMaxNameBytes = 4096;

std::string u(uint64_t v) { return std::to_string(v); }

// Reads the header in order, each read checked against the end of the data.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const File& file) : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      file_.fail(what + ": needs " + u(n) + " bytes at offset " + u(pos_) + " but the file ends at " +
                 u(size_) + " (truncated?)");
    }
  }
  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  void skip(uint64_t n, const std::string& what) {
    need(n, what);
    pos_ += size_t(n);
  }
  std::string string(const std::string& what, uint64_t max) {
    const uint64_t n = read<uint64_t>(what + " length");
    if (n > max) file_.fail(what + ": length " + u(n) + " exceeds the limit of " + u(max) + " bytes");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }
  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const File& file_;
};

// Size of one element of a fixed-size value type; 0 for strings and arrays.
uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::String: case ValueType::Array: return 0;
  }
  return 0;
}

bool known_value_type(uint32_t t) { return t <= uint32_t(ValueType::F64); }

// Reads one scalar of type t at p into v.
void read_scalar(ValueType t, const uint8_t* p, Value& v) {
  switch (t) {
    case ValueType::U8: v.u = p[0]; break;
    case ValueType::Bool: v.u = p[0]; break;
    case ValueType::I8: v.i = int8_t(p[0]); break;
    case ValueType::U16: { uint16_t x; std::memcpy(&x, p, 2); v.u = x; break; }
    case ValueType::I16: { int16_t x; std::memcpy(&x, p, 2); v.i = x; break; }
    case ValueType::U32: { uint32_t x; std::memcpy(&x, p, 4); v.u = x; break; }
    case ValueType::I32: { int32_t x; std::memcpy(&x, p, 4); v.i = x; break; }
    case ValueType::F32: { float x; std::memcpy(&x, p, 4); v.f = x; break; }
    case ValueType::U64: { uint64_t x; std::memcpy(&x, p, 8); v.u = x; break; }
    case ValueType::I64: { int64_t x; std::memcpy(&x, p, 8); v.i = x; break; }
    case ValueType::F64: { double x; std::memcpy(&x, p, 8); v.f = x; break; }
    case ValueType::String: case ValueType::Array: break;
  }
}

bool is_unsigned(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}
bool is_signed(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

const GgmlType* ggml_type(uint32_t id) {
  for (const GgmlType& t : kTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::optional<StoredType> engine_type(uint32_t id) {
  for (const auto& t : kEngineTypes) {
    if (t.id == id) return t.stored;
  }
  return std::nullopt;
}

uint32_t ggml_id(StoredType stored) {
  for (const auto& t : kEngineTypes) {
    if (t.stored == stored) return t.id;
  }
  return 0;
}

std::vector<int64_t> Tensor::shape() const {
  std::vector<int64_t> s;
  for (int d = n_dims - 1; d >= 0; --d) s.push_back(ne[d]);
  return s;
}

File::File(const std::string& path) : name_(base_name(path)) {
  mapped_ = std::make_unique<MappedFile>(path);
  parse(mapped_->data(), mapped_->size());
}

File::File(const uint8_t* data, size_t size, const std::string& name) : name_(name) {
  parse(data, size);
}

void File::fail(const std::string& message) const {
  std::string line = name_ + ": " + message;
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // keys are untrusted bytes
  }
  if (line.size() > 600) line = line.substr(0, 600) + "...";
  throw Error(line);
}

void File::parse(const uint8_t* data, size_t size) {
  Cursor in(data, size, *this);
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) {
    fail("not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  in.skip(4, "magic");
  version_ = in.read<uint32_t>("GGUF header version");
  if (version_ != 2 && version_ != 3) {
    // A big-endian file reads as a huge version number here.
    fail("GGUF version " + u(version_) + " is not supported (only 2 and 3, little-endian)");
  }
  const uint64_t tensor_count = in.read<uint64_t>("GGUF header tensor_count");
  const uint64_t kv_count = in.read<uint64_t>("GGUF header kv_count");
  // The smallest possible entries: a tensor info is ≥ 8 + 4 + 8 + 4 + 8 bytes, a
  // key/value pair ≥ 8 + 4 + 1 bytes.
  if (tensor_count > in.remaining() / 32) {
    fail("GGUF header tensor_count " + u(tensor_count) + " is more than the file can hold (truncated?)");
  }
  if (kv_count > in.remaining() / 13) {
    fail("GGUF header kv_count " + u(kv_count) + " is more than the file can hold (truncated?)");
  }

  for (uint64_t k = 0; k < kv_count; ++k) {
    const std::string key = in.string("metadata key #" + u(k), kMaxNameBytes);
    const std::string what = "metadata " + key;
    if (metadata_.count(key)) fail(what + ": duplicate key");
    const uint32_t raw_type = in.read<uint32_t>(what + " type");
    if (!known_value_type(raw_type)) fail(what + ": unknown value type " + u(raw_type));
    Value v;
    v.type = ValueType(raw_type);
    if (v.type == ValueType::String) {
      v.str = in.string(what, kMaxStringBytes);
    } else if (v.type == ValueType::Array) {
      const uint32_t raw_element = in.read<uint32_t>(what + " array element type");
      if (!known_value_type(raw_element)) fail(what + ": unknown array element type " + u(raw_element));
      v.element_type = ValueType(raw_element);
      if (v.element_type == ValueType::Array) fail(what + ": arrays of arrays are not supported");
      v.count = in.read<uint64_t>(what + " array length");
      v.elements = in.here();
      if (v.element_type == ValueType::String) {
        if (v.count > in.remaining() / 8) {
          fail(what + ": array length " + u(v.count) + " is more than the file can hold (truncated?)");
        }
        for (uint64_t e = 0; e < v.count; ++e) {
          const uint64_t n = in.read<uint64_t>(what + " element " + u(e) + " length");
          if (n > kMaxStringBytes) fail(what + " element " + u(e) + ": length " + u(n) + " is too long");
          in.skip(n, what + " element " + u(e));
        }
      } else {
        const uint64_t element = scalar_size(v.element_type);
        if (v.count > in.remaining() / element) {
          fail(what + ": array length " + u(v.count) + " is more than the file can hold (truncated?)");
        }
        in.skip(v.count * element, what);
      }
    } else {
      const uint64_t n = scalar_size(v.type);
      in.need(n, what);
      read_scalar(v.type, in.here(), v);
      in.skip(n, what);
    }
    metadata_.emplace(key, std::move(v));
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type != ValueType::U32) {
      fail(std::string("metadata general.alignment: expected uint32, found ") + value_type_name(a->type));
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > kMaxAlignment) {
      fail("metadata general.alignment: " + u(a->u) + " is not a power of two between 1 and " +
           u(kMaxAlignment));
    }
    alignment_ = uint32_t(a->u);
  }

  tensors_.reserve(size_t(tensor_count));
  for (uint64_t t = 0; t < tensor_count; ++t) {
    Tensor x;
    x.name = in.string("tensor #" + u(t) + " name", kMaxNameBytes);
    const std::string what = "tensor " + x.name;
    if (index_.count(x.name)) fail(what + ": duplicate tensor name");
    const uint32_t n_dims = in.read<uint32_t>(what + " n_dims");
    if (n_dims < 1 || n_dims > 4) fail(what + ": n_dims " + u(n_dims) + " is not between 1 and 4");
    x.n_dims = int(n_dims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = in.read<uint64_t>(what + " dimension " + u(d));
      if (ne < 1 || ne > uint64_t(std::numeric_limits<int64_t>::max())) {
        fail(what + ": dimension " + u(d) + " is " + u(ne) + " (must be at least 1)");
      }
      if (mul_overflows(elements, ne, &elements) || elements > (uint64_t(1) << 50)) {
        fail(what + ": element count overflows");
      }
      x.ne[d] = int64_t(ne);
    }
    x.type = in.read<uint32_t>(what + " type");
    const GgmlType* type = ggml_type(x.type);
    if (!type) fail(what + ": unknown tensor type id " + u(x.type));
    if (uint64_t(x.ne[0]) % uint64_t(type->block_values) != 0) {
      fail(what + ": row length " + u(uint64_t(x.ne[0])) + " is not a multiple of the " + type->name +
           " block size " + std::to_string(type->block_values));
    }
    // Bytes: whole blocks per row times the rows; elements ≤ 2^50 keeps each step small,
    // but check anyway.
    uint64_t bytes = uint64_t(x.ne[0]) / uint64_t(type->block_values);
    if (mul_overflows(bytes, uint64_t(type->block_bytes), &bytes) ||
        mul_overflows(bytes, elements / uint64_t(x.ne[0]), &bytes)) {
      fail(what + ": byte size overflows");
    }
    x.nbytes = bytes;
    x.offset = in.read<uint64_t>(what + " offset");
    if (x.offset % alignment_ != 0) {
      fail(what + ": offset " + u(x.offset) + " is not a multiple of the alignment " + u(alignment_));
    }
    index_.emplace(x.name, tensors_.size());
    tensors_.push_back(std::move(x));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t data_start = in.pos();
  if (add_overflows(data_start, alignment_ - 1, &data_start)) fail("data section offset overflows");
  data_start -= data_start % alignment_;

  std::vector<const Tensor*> by_offset;
  for (Tensor& x : tensors_) {
    uint64_t begin = 0, end = 0;
    if (add_overflows(data_start, x.offset, &begin) || add_overflows(begin, x.nbytes, &end) || end > size) {
      fail("tensor " + x.name + ": data at offset " + u(x.offset) + " + " + u(x.nbytes) +
           " bytes runs past the end of the file (" + u(size) + " bytes; truncated?)");
    }
    x.offset = begin;
    x.data = data + begin;
    by_offset.push_back(&x);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Tensor* a, const Tensor* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const Tensor& a = *by_offset[k - 1];
    const Tensor& b = *by_offset[k];
    if (b.offset < a.offset + a.nbytes) fail("tensors " + a.name + " and " + b.name + " overlap");
  }
}

const Tensor* File::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const Value* File::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<int64_t> File::integer(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (is_unsigned(v->type)) {
    if (v->u > uint64_t(std::numeric_limits<int64_t>::max())) fail("metadata " + key + ": value out of range");
    return int64_t(v->u);
  }
  if (is_signed(v->type)) return v->i;
  fail("metadata " + key + ": expected an integer, found " + value_type_name(v->type));
}

std::optional<double> File::number(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == ValueType::F32 || v->type == ValueType::F64) return v->f;
  return double(*integer(key));
}

std::optional<std::string> File::string(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::String) {
    fail("metadata " + key + ": expected a string, found " + value_type_name(v->type));
  }
  return v->str;
}

std::optional<bool> File::boolean(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::Bool) fail("metadata " + key + ": expected a bool, found " + value_type_name(v->type));
  return v->u != 0;
}

const Value& File::array(const std::string& key, ValueType element) const {
  const Value* v = find(key);
  if (v->type != ValueType::Array) {
    fail("metadata " + key + ": expected an array, found " + value_type_name(v->type));
  }
  const bool ok = v->element_type == element ||
                  (element == ValueType::I32 && (is_signed(v->element_type) || is_unsigned(v->element_type)));
  if (!ok) {
    fail("metadata " + key + ": expected an array of " + value_type_name(element) + ", found an array of " +
         value_type_name(v->element_type));
  }
  return *v;
}

std::optional<std::vector<std::string>> File::strings(const std::string& key) const {
  if (!find(key)) return std::nullopt;
  const Value& v = array(key, ValueType::String);
  std::vector<std::string> out;
  out.reserve(size_t(v.count));
  const uint8_t* p = v.elements;  // lengths were checked by parse()
  for (uint64_t e = 0; e < v.count; ++e) {
    uint64_t n;
    std::memcpy(&n, p, 8);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), size_t(n));
    p += 8 + n;
  }
  return out;
}

std::optional<std::vector<float>> File::floats(const std::string& key) const {
  if (!find(key)) return std::nullopt;
  const Value& v = array(key, ValueType::F32);
  std::vector<float> out(size_t(v.count));
  if (v.count) std::memcpy(out.data(), v.elements, size_t(v.count) * 4);
  return out;
}

std::optional<std::vector<int32_t>> File::int32s(const std::string& key) const {
  if (!find(key)) return std::nullopt;
  const Value& v = array(key, ValueType::I32);
  std::vector<int32_t> out(size_t(v.count));
  const uint64_t size = scalar_size(v.element_type);
  for (uint64_t e = 0; e < v.count; ++e) {
    Value x;
    read_scalar(v.element_type, v.elements + e * size, x);
    const bool fits = is_signed(v.element_type)
                          ? (x.i >= std::numeric_limits<int32_t>::min() && x.i <= std::numeric_limits<int32_t>::max())
                          : x.u <= uint64_t(std::numeric_limits<int32_t>::max());
    if (!fits) fail("metadata " + key + ": element " + u(e) + " is out of range");
    out[size_t(e)] = is_signed(v.element_type) ? int32_t(x.i) : int32_t(x.u);
  }
  return out;
}

bool is_gguf_path(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

std::string find_in_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return "";
  std::vector<std::string> found;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (is_gguf_path(name) && files::is_file(files::join(dir, name))) found.push_back(name);
  }
  ::closedir(d);
  if (found.empty()) return "";
  std::sort(found.begin(), found.end());
  if (found.size() > 1) {
    throw Error(dir + " holds several GGUF files (" + found[0] + ", " + found[1] +
                (found.size() > 2 ? ", ..." : "") + "): pass --model the one to use");
  }
  return files::join(dir, found[0]);
}

}  // namespace tramontane::gguf
