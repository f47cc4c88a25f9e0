// The GGUF reader and writer on their own: a written file reads back field for field;
// every way a file can be malformed (truncated anywhere, each header field corrupted,
// tensors out of range or overlapping, sizes that overflow, unknown types, the shapes
// of llama.cpp's GGUF CVEs) gives one clear line naming the field or tensor, and random
// corruption never crashes.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_writer.h"
#include "harness.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using namespace tramontane;
using harness::TempDir;

namespace {

// A small valid file: a few metadata types, two tensors (F32 [2, 32], Q8_0 [3, 64]).
std::string sample() {
  gguf::Writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_f32("llama.rope.freq_base", 1e6f);
  w.add_bool("flag", true);
  w.add_strings("names", {"a", "bc", ""});
  w.add_floats("floats", {1.5f, -2.f});
  w.add_i32s("ints", {7, -1, 3});
  std::vector<float> f32(64);
  for (int i = 0; i < 64; ++i) f32[size_t(i)] = float(i) * 0.25f;
  w.add_tensor("a.weight", StoredType::F32, {2, 32}, f32.data(), f32.size() * 4);
  std::vector<uint8_t> q8(3 * 2 * 34, 1);
  w.add_tensor("b.weight", StoredType::Q8_0, {3, 64}, q8.data(), q8.size());
  return w.bytes();
}

gguf::File parse(const std::string& bytes) {
  return gguf::File(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.gguf");
}

template <class T>
void poke(std::string& bytes, size_t at, T v) {
  std::memcpy(&bytes[at], &v, sizeof v);
}

// Offset of the first byte after the length-prefixed string s (a key or tensor name).
size_t after(const std::string& bytes, const std::string& s) {
  const size_t at = bytes.find(s);
  if (at == std::string::npos) throw std::runtime_error("not found: " + s);
  return at + s.size();
}

// The byte offset of a tensor info's fields, after its name.
struct InfoAt {
  size_t n_dims, ne0, type, offset;
};
InfoAt info(const std::string& bytes, const std::string& name, int n_dims = 2) {
  const size_t p = after(bytes, name);
  return {p, p + 4, p + 4 + 8 * size_t(n_dims), p + 4 + 8 * size_t(n_dims) + 4};
}

}  // namespace

TEST(written_file_reads_back) {
  const std::string bytes = sample();
  const gguf::File f = parse(bytes);
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(*f.string("general.architecture") == "llama");
  CHECK(*f.integer("llama.block_count") == 2);
  CHECK(*f.number("llama.rope.freq_base") == 1e6);
  CHECK(*f.boolean("flag"));
  CHECK((*f.strings("names") == std::vector<std::string>{"a", "bc", ""}));
  CHECK((*f.floats("floats") == std::vector<float>{1.5f, -2.f}));
  CHECK((*f.int32s("ints") == std::vector<int32_t>{7, -1, 3}));
  CHECK(!f.integer("absent"));
  CHECK(f.tensors().size() == 2);
  const gguf::Tensor* a = f.tensor("a.weight");
  CHECK(a && a->n_dims == 2 && a->ne[0] == 32 && a->ne[1] == 2 && a->nbytes == 256);
  CHECK((a->shape() == std::vector<int64_t>{2, 32}));
  CHECK(a && a->offset % 32 == 0);
  float v;
  std::memcpy(&v, a->data + 4 * 5, 4);
  CHECK(v == 1.25f);
  const gguf::Tensor* b = f.tensor("b.weight");
  CHECK(b && std::string(b->type_name()) == "Q8_0" && b->nbytes == 3 * 2 * 34);
  EXPECT_ERROR(f.string("llama.block_count"), "llama.block_count", "expected a string", "uint32");
  EXPECT_ERROR(f.floats("ints"), "ints", "float32", "int32");
  EXPECT_ERROR(f.integer("names"), "names", "expected an integer");
}

TEST(version_2_reads) {
  std::string bytes = sample();
  poke<uint32_t>(bytes, 4, 2);
  CHECK(parse(bytes).version() == 2);
}

TEST(every_truncation_is_one_error) {
  const std::string bytes = sample();
  int errors = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    try {
      parse(bytes.substr(0, n));
      harness::report_failure(__LINE__, "a file cut to " + std::to_string(n) + " bytes parsed");
    } catch (const Error& e) {
      ++errors;
      if (std::string(e.what()).find('\n') != std::string::npos) harness::report_failure(__LINE__, e.what());
    }
  }
  CHECK(errors == int(bytes.size()));
  EXPECT_ERROR(parse(bytes.substr(0, 100)), "t.gguf", "truncated");
  EXPECT_ERROR(parse(bytes.substr(0, bytes.size() - 1)), "tensor b.weight", "past the end of the file");
}

TEST(header_fields_corrupted) {
  const std::string good = sample();
  auto with = [&](size_t at, auto v) {
    std::string b = good;
    poke(b, at, v);
    return b;
  };
  EXPECT_ERROR(parse(with(0, uint8_t('X'))), "not a GGUF file");
  EXPECT_ERROR(parse(with(4, uint32_t(1))), "version 1");
  EXPECT_ERROR(parse(with(4, uint32_t(4))), "version 4");
  EXPECT_ERROR(parse(with(4, uint32_t(0x03000000))), "little-endian");  // a big-endian file
  EXPECT_ERROR(parse(with(8, uint64_t(1) << 40)), "tensor_count");
  EXPECT_ERROR(parse(with(8, ~uint64_t(0))), "tensor_count");
  EXPECT_ERROR(parse(with(16, uint64_t(1) << 40)), "kv_count");
  EXPECT_ERROR(parse(with(16, uint64_t(0))), "t.gguf");  // the key/value bytes then read as a tensor
  // The first key: its length, then its type.
  EXPECT_ERROR(parse(with(24, ~uint64_t(0))), "metadata key #0", "length");
  EXPECT_ERROR(parse(with(24, uint64_t(1) << 19)), "metadata key #0");
  const size_t arch_type = after(good, "general.architecture");
  EXPECT_ERROR(parse(with(arch_type, uint32_t(13))), "general.architecture", "unknown value type 13");
  EXPECT_ERROR(parse(with(arch_type + 4, ~uint64_t(0))), "general.architecture", "length");
  // Arrays: element type, nesting, length.
  const size_t names = after(good, "names") + 4;  // after the ARRAY type
  EXPECT_ERROR(parse(with(names, uint32_t(99))), "names", "unknown array element type 99");
  EXPECT_ERROR(parse(with(names, uint32_t(9))), "names", "arrays of arrays");
  EXPECT_ERROR(parse(with(names + 4, uint64_t(1) << 61)), "names", "array length");
  EXPECT_ERROR(parse(with(names + 4 + 8, ~uint64_t(0))), "names element 0", "too long");
  const size_t floats = after(good, "floats") + 8;
  EXPECT_ERROR(parse(with(floats, uint64_t(1) << 62)), "floats", "array length");   // 4 · 2^62 wraps
  EXPECT_ERROR(parse(with(floats, uint64_t(1) << 30)), "floats", "array length");
}

TEST(tensor_infos_corrupted) {
  const std::string good = sample();
  auto with = [&](size_t at, auto v) {
    std::string b = good;
    poke(b, at, v);
    return b;
  };
  const InfoAt a = info(good, "a.weight");
  const InfoAt b = info(good, "b.weight");
  EXPECT_ERROR(parse(with(a.n_dims, uint32_t(0))), "tensor a.weight", "n_dims 0");
  EXPECT_ERROR(parse(with(a.n_dims, uint32_t(5))), "tensor a.weight", "n_dims 5");
  EXPECT_ERROR(parse(with(a.ne0, uint64_t(0))), "tensor a.weight", "dimension 0 is 0");
  EXPECT_ERROR(parse(with(a.ne0 + 8, ~uint64_t(0))), "tensor a.weight", "dimension 1");
  // CVE-2024-21802 shape: dimensions whose product overflows 64 bits.
  {
    std::string bad = good;
    poke<uint64_t>(bad, a.ne0, uint64_t(1) << 32);
    poke<uint64_t>(bad, a.ne0 + 8, uint64_t(1) << 33);
    EXPECT_ERROR(parse(bad), "tensor a.weight", "element count overflows");
  }
  EXPECT_ERROR(parse(with(a.type, uint32_t(4))), "tensor a.weight", "unknown tensor type id 4");
  EXPECT_ERROR(parse(with(a.type, uint32_t(1000))), "tensor a.weight", "unknown tensor type id 1000");
  EXPECT_ERROR(parse(with(b.ne0, uint64_t(48))), "tensor b.weight", "not a multiple of the Q8_0 block size 32");
  EXPECT_ERROR(parse(with(a.offset, uint64_t(4))), "tensor a.weight", "not a multiple of the alignment 32");
  EXPECT_ERROR(parse(with(a.offset, uint64_t(1) << 40)), "tensor a.weight", "past the end");
  // Offset + size wrapping around 2^64 (CVE-2025-53630 shape).
  EXPECT_ERROR(parse(with(b.offset, ~uint64_t(0) - 31)), "tensor b.weight", "past the end");
  EXPECT_ERROR(parse(with(b.offset, uint64_t(0))), "tensors a.weight and b.weight overlap");
  // A size beyond the file: more rows than bytes.
  EXPECT_ERROR(parse(with(b.ne0 + 8, uint64_t(1) << 30)), "tensor b.weight", "past the end");
  // A duplicate tensor name.
  {
    std::string bad = good;
    bad.replace(bad.find("b.weight"), 8, "a.weight");
    EXPECT_ERROR(parse(bad), "tensor a.weight", "duplicate tensor name");
  }
}

TEST(duplicate_keys_and_alignment) {
  {
    gguf::Writer w;
    w.add_u32("k", 1);
    w.add_u32("k", 2);
    EXPECT_ERROR(parse(w.bytes()), "metadata k", "duplicate key");
  }
  for (uint32_t bad : {0u, 3u, 48u, 1u << 21}) {
    gguf::Writer w;
    w.add_u32("general.alignment", bad);
    EXPECT_ERROR(parse(w.bytes()), "general.alignment", "power of two");
  }
  {
    gguf::Writer w;
    w.add_i32("general.alignment", 32);
    EXPECT_ERROR(parse(w.bytes()), "general.alignment", "expected uint32");
  }
  {
    gguf::Writer w;
    w.add_u32("general.alignment", 64);
    std::vector<float> x(16, 1.f);
    w.add_tensor("t", StoredType::F32, {16}, x.data(), 64);
    // The writer aligns to 32: with 64 declared, the data section moves and offsets
    // are checked against the new alignment.
    try {
      const gguf::File f = parse(w.bytes());
      CHECK(f.alignment() == 64);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("past the end") != std::string::npos);
    }
  }
}

TEST(random_corruption_never_crashes) {
  const std::string good = sample();
  std::mt19937 rng(1234);
  int parsed = 0, errors = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string b = good;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng() % (round % 2 ? b.size() : std::min<size_t>(b.size(), 400));
      b[at] = char(rng() % 3 == 0 ? 0xff : rng());
    }
    if (round % 7 == 0) b.resize(rng() % b.size());
    try {
      const gguf::File f = parse(b);
      for (const auto& [key, v] : f.metadata()) {
        try {
          if (v.type == gguf::ValueType::Array && v.element_type == gguf::ValueType::String) (void)f.strings(key);
        } catch (const Error&) {
        }
      }
      ++parsed;
    } catch (const Error& e) {
      ++errors;
      if (std::string(e.what()).find('\n') != std::string::npos) harness::report_failure(__LINE__, e.what());
    }
  }
  std::printf("  20000 corrupted files: %d parsed, %d one-line errors\n", parsed, errors);
  CHECK(errors > 0);
}

TEST(mapped_file_errors) {
  TempDir dir;
  EXPECT_ERROR((void)gguf::File(dir.file("absent.gguf")), "absent.gguf");
  const std::string empty = dir.write("empty.gguf", "");
  EXPECT_ERROR((void)gguf::File(empty), "empty.gguf", "not a GGUF file");
  const std::string ok = dir.write("ok.gguf", sample());
  CHECK(gguf::File(ok).tensors().size() == 2);
  EXPECT_ERROR(gguf::find_in_directory(dir.path), "several GGUF files");
}

int main() { return harness::run_all(); }
