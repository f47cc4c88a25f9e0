#include "gguf_writer.h"

#include <fstream>

#include "gguf.h"
#include "tramontane/engine.h"

namespace tramontane::gguf {

namespace {

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}
uint64_t padded(uint64_t n) { return (n + Writer::kAlignment - 1) / Writer::kAlignment * Writer::kAlignment; }

}  // namespace

void Writer::key(const std::string& k, uint32_t type) {
  put_string(kv_, k);
  put<uint32_t>(kv_, type);
  ++kv_count_;
}

void Writer::add_u32(const std::string& k, uint32_t v) { key(k, uint32_t(ValueType::U32)); put(kv_, v); }
void Writer::add_i32(const std::string& k, int32_t v) { key(k, uint32_t(ValueType::I32)); put(kv_, v); }
void Writer::add_f32(const std::string& k, float v) { key(k, uint32_t(ValueType::F32)); put(kv_, v); }
void Writer::add_bool(const std::string& k, bool v) { key(k, uint32_t(ValueType::Bool)); put<uint8_t>(kv_, v); }
void Writer::add_string(const std::string& k, const std::string& v) {
  key(k, uint32_t(ValueType::String));
  put_string(kv_, v);
}
void Writer::add_strings(const std::string& k, const std::vector<std::string>& v) {
  key(k, uint32_t(ValueType::Array));
  put<uint32_t>(kv_, uint32_t(ValueType::String));
  put<uint64_t>(kv_, v.size());
  for (const std::string& s : v) put_string(kv_, s);
}
void Writer::add_floats(const std::string& k, const std::vector<float>& v) {
  key(k, uint32_t(ValueType::Array));
  put<uint32_t>(kv_, uint32_t(ValueType::F32));
  put<uint64_t>(kv_, v.size());
  for (float x : v) put(kv_, x);
}
void Writer::add_i32s(const std::string& k, const std::vector<int32_t>& v) {
  key(k, uint32_t(ValueType::Array));
  put<uint32_t>(kv_, uint32_t(ValueType::I32));
  put<uint64_t>(kv_, v.size());
  for (int32_t x : v) put(kv_, x);
}

void Writer::add_tensor(const std::string& name, StoredType type, const std::vector<int64_t>& shape,
                        const void* data, size_t bytes) {
  tensors_.push_back({name, type, shape, bytes, false, std::string(static_cast<const char*>(data), bytes)});
}

void Writer::declare_tensor(const std::string& name, StoredType type, const std::vector<int64_t>& shape) {
  uint64_t rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) rows *= uint64_t(shape[d]);
  tensors_.push_back({name, type, shape, rows * row_bytes(type, shape.back()), true, {}});
}

std::string Writer::header() const {
  std::string out = "GGUF";
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_count_);
  out += kv_;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, uint32_t(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) put<uint64_t>(out, uint64_t(t.shape[d]));  // fastest first
    put<uint32_t>(out, ggml_id(t.type));
    put<uint64_t>(out, offset);
    offset += padded(t.size);
  }
  if (!tensors_.empty()) out.resize(size_t(padded(out.size())), '\0');
  return out;
}

std::string Writer::bytes() const {
  std::string out = header();
  for (const Tensor& t : tensors_) {
    if (t.streamed) throw Error("tensor " + t.name + " is streamed: write the file instead");
    out.resize(size_t(padded(out.size())), '\0');
    out += t.data;
  }
  return out;
}

void Writer::write(const std::string& path, const std::function<void(size_t, const Put&)>& stream) const {
  std::ofstream out(path, std::ios::binary);
  const std::string head = header();
  out.write(head.data(), std::streamsize(head.size()));
  uint64_t at = head.size();
  static const char zeros[kAlignment] = {};
  for (size_t i = 0; i < tensors_.size() && out; ++i) {
    const Tensor& t = tensors_[i];
    out.write(zeros, std::streamsize(padded(at) - at));
    at = padded(at);
    if (!t.streamed) {
      out.write(t.data.data(), std::streamsize(t.data.size()));
    } else {
      if (!stream) throw Error("cannot write " + path + ": no bytes for the streamed tensor " + t.name);
      uint64_t given = 0;
      stream(i, [&](const void* data, size_t bytes) {
        given += bytes;
        if (given > t.size) return;
        out.write(static_cast<const char*>(data), std::streamsize(bytes));
      });
      if (given != t.size) {
        throw Error("cannot write " + path + ": tensor " + t.name + " got " + std::to_string(given) +
                    " bytes, declared " + std::to_string(t.size));
      }
    }
    at += t.size;
  }
  out.close();
  if (!out) throw Error("cannot write " + path);
}

}  // namespace tramontane::gguf
