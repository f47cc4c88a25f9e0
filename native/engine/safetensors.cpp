#include "safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "config.h"
#include "json.h"
#include "tramontane/engine.h"

namespace tramontane {

static std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

bool parse_type(const std::string& s, StoredType* out) {
  if (s == "F32") *out = StoredType::F32;
  else if (s == "BF16") *out = StoredType::BF16;
  else if (s == "F16") *out = StoredType::F16;
  else return false;
  return true;
}

// A non-negative integer that fits comfortably in 64 bits (JSON numbers are doubles).
bool as_offset(const json::Value& v, uint64_t* out) {
  if (!v.is_number()) return false;
  double x = v.as_number();
  if (!(x >= 0) || x != std::floor(x) || x > 9.0e15) return false;
  *out = uint64_t(x);
  return true;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : name_(base_name(path)) {
  file_ = std::make_unique<MappedFile>(path);
  const uint8_t* base = file_->data();
  const uint64_t size = file_->size();
  if (size < 8) {
    throw Error(name_ + ": file too short for a safetensors header (" + std::to_string(size) +
                " bytes)");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > size - 8) {
    throw Error(name_ + ": header length " + std::to_string(header_len) +
                " exceeds the file size (" + std::to_string(size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    throw Error(name_ + ": header length " + std::to_string(header_len) +
                " is larger than the " + std::to_string(kMaxHeaderBytes) + "-byte limit");
  }
  std::string header(reinterpret_cast<const char*>(base + 8), size_t(header_len));
  json::Value root = json::Value::parse(header, name_ + " header");
  if (!root.is_object()) throw Error(name_ + ": the header is not a JSON object");

  const uint8_t* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // [begin, end) per tensor

  for (const auto& member : root.as_object()) {
    const std::string& tensor_name = member.first;  // a lambda below uses it: no binding
    const json::Value& entry = member.second;
    if (tensor_name == "__metadata__") continue;
    auto fail = [&](const std::string& why) {
      throw Error(name_ + ": tensor " + tensor_name + ": " + why);
    };
    if (!entry.is_object()) fail("header entry is not an object");
    const json::Value* dtype = entry.find("dtype");
    const json::Value* shape = entry.find("shape");
    const json::Value* offsets = entry.find("data_offsets");
    if (!dtype || !dtype->is_string()) fail("missing dtype");
    if (!shape || !shape->is_array()) fail("missing shape");
    if (!offsets || !offsets->is_array() || offsets->as_array().size() != 2) {
      fail("data_offsets must be [begin, end]");
    }

    TensorView t;
    t.name = tensor_name;
    t.file = name_;
    if (!parse_type(dtype->as_string(), &t.type)) {
      fail("unsupported dtype " + dtype->as_string() + " (F32, BF16 and F16 are supported)");
    }
    // Element count, refusing anything that could overflow.
    uint64_t count = 1;
    for (const json::Value& d : shape->as_array()) {
      uint64_t n = 0;
      if (!as_offset(d, &n)) fail("shape entries must be non-negative integers");
      if (n != 0 && count > (uint64_t(1) << 62) / n) fail("shape is too large");
      count *= n;
      t.shape.push_back(int64_t(n));
    }
    uint64_t begin = 0, end = 0;
    if (!as_offset(offsets->as_array()[0], &begin) || !as_offset(offsets->as_array()[1], &end)) {
      fail("data_offsets must be non-negative integers");
    }
    if (begin > end || end > data_size) {
      fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] lie outside the " + std::to_string(data_size) + " data bytes of the file");
    }
    uint64_t expected = count * block_bytes(t.type);  // safetensors holds plain types only
    if (end - begin != expected) {
      fail("data_offsets span " + std::to_string(end - begin) + " bytes but shape " +
           shape_string(t.shape) + " of " + stored_type_name(t.type) + " needs " +
           std::to_string(expected));
    }
    t.nbytes = size_t(expected);
    t.data = data + begin;
    // The format does not promise alignment; a misaligned tensor is copied once (an
    // empty one has nothing to copy or read).
    if (t.nbytes > 0 && reinterpret_cast<uintptr_t>(t.data) % block_bytes(t.type) != 0) {
      realigned_.emplace_back((t.nbytes + 3) / 4);
      std::memcpy(realigned_.back().data(), t.data, t.nbytes);
      t.data = realigned_.back().data();
    }
    spans.emplace_back(begin, end);
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // Two tensors may not share bytes (empty tensors occupy none).
  std::sort(spans.begin(), spans.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : spans) {
    if (begin == end) continue;
    if (begin < covered) {
      throw Error(name_ + ": tensor data overlaps at byte " + std::to_string(begin) +
                  " of the data section");
    }
    covered = end;
  }
}

const TensorView* SafetensorsFile::find(const std::string& tensor) const {
  auto it = index_.find(tensor);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::unique_ptr<SafetensorsSource> SafetensorsSource::open_file(const std::string& dir,
                                                              const std::string& name) {
  std::string path = files::join(dir, name);
  if (!files::is_file(path)) throw Error("no " + name + " in " + dir);
  auto store = std::make_unique<SafetensorsSource>();
  store->files_.push_back(std::make_unique<SafetensorsFile>(path));
  store->where_ = name;
  return store;
}

std::unique_ptr<SafetensorsSource> SafetensorsSource::open_hf(const std::string& dir) {
  const std::string index_name = "model.safetensors.index.json";
  if (files::is_file(files::join(dir, index_name))) return open_index(dir, index_name);
  if (!files::is_file(files::join(dir, "model.safetensors"))) {
    throw Error("no model.safetensors or " + index_name + " in " + dir);
  }
  return open_file(dir, "model.safetensors");
}

namespace {

// Digits at text[at...] up to `end`, as a number above 0; 0 when anything else is there.
int shard_count_at(const std::string& text, size_t at, size_t end) {
  if (end == std::string::npos || end <= at || end - at > 6) return 0;
  int n = 0;
  for (size_t i = at; i < end; ++i) {
    if (text[i] < '0' || text[i] > '9') return 0;
    n = n * 10 + (text[i] - '0');
  }
  return n;
}

// "consolidated-00002-of-00003.safetensors" → {2, 3}; {0, 0} for any other name.
std::pair<int, int> consolidated_shard_number(const std::string& name) {
  const std::string prefix = "consolidated-", middle = "-of-", suffix = ".safetensors";
  if (name.rfind(prefix, 0) != 0 || name.size() < suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return {0, 0};
  }
  const size_t mid = name.find(middle, prefix.size());
  const int n = shard_count_at(name, prefix.size(), mid);
  const int of = n == 0 ? 0 : shard_count_at(name, mid + middle.size(), name.size() - suffix.size());
  if (n == 0 || of == 0 || n > of) return {0, 0};
  return {n, of};
}

// The consolidated shards in dir, in shard order; throws when one of the set is missing,
// one number is spelled twice, or two sets are mixed.
std::vector<std::string> consolidated_shards(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());  // readdir's order is the file system's
  std::map<int, std::string> by_number;
  int of = 0;
  for (const std::string& name : names) {
    const auto [n, count] = consolidated_shard_number(name);
    if (n == 0 || !files::is_file(files::join(dir, name))) continue;
    if (of != 0 && count != of) {
      throw Error(dir + " mixes consolidated shards of " + std::to_string(of) + " and of " +
                  std::to_string(count) + " files");
    }
    of = count;
    const auto [it, added] = by_number.emplace(n, name);
    if (!added) throw Error(dir + ": " + it->second + " and " + name + " are the same shard");
  }
  std::vector<std::string> shards;
  for (int n = 1; n <= of; ++n) {
    auto it = by_number.find(n);
    if (it == by_number.end()) {
      char missing[64];
      std::snprintf(missing, sizeof missing, "consolidated-%05d-of-%05d.safetensors", n, of);
      throw Error(dir + " lacks " + missing + ", one of its " + std::to_string(of) + " consolidated shards");
    }
    shards.push_back(it->second);
  }
  return shards;
}

}  // namespace

std::unique_ptr<SafetensorsSource> SafetensorsSource::open_consolidated(const std::string& dir) {
  const std::string single = "consolidated.safetensors";
  const std::string index_name = "consolidated.safetensors.index.json";
  const bool has_single = files::is_file(files::join(dir, single));
  const bool has_index = files::is_file(files::join(dir, index_name));
  const std::vector<std::string> shards = consolidated_shards(dir);
  if (has_single && (has_index || !shards.empty())) {
    throw Error(dir + " holds both " + single + " and its shards (" +
                (has_index ? index_name : shards[0]) + "): keep one of the two");
  }
  if (has_index) return open_index(dir, index_name);
  if (shards.empty()) return open_file(dir, single);

  // Shards without an index: every tensor must be in exactly one of them.
  auto store = std::make_unique<SafetensorsSource>();
  store->where_ = "the " + std::to_string(shards.size()) + " consolidated shards";
  for (const std::string& shard : shards) {
    store->files_.push_back(std::make_unique<SafetensorsFile>(files::join(dir, shard)));
    const size_t at = store->files_.size() - 1;
    for (const TensorView& t : store->files_[at]->tensors()) {
      const auto [it, added] = store->shard_of_.emplace(t.name, at);
      if (!added) {
        throw Error(t.name + " is in both " + store->files_[it->second]->name() + " and " + shard);
      }
    }
  }
  return store;
}

std::unique_ptr<SafetensorsSource> SafetensorsSource::open_index(const std::string& dir,
                                                               const std::string& index_name) {
  std::string index_path = files::join(dir, index_name);
  json::Value index = json::Value::parse(files::read_text(index_path), index_name);
  const json::Value* map = index.find("weight_map");
  if (!map || !map->is_object()) throw Error(index_name + ": missing \"weight_map\" object");

  auto store = std::make_unique<SafetensorsSource>();
  store->where_ = "the shards of " + index_name;
  std::map<std::string, size_t> file_index;  // shard file name → files_ index
  for (const auto& [tensor, file] : map->as_object()) {
    if (!file.is_string()) throw Error(index_name + ": weight_map[" + tensor + "] is not a file name");
    const std::string& shard = file.as_string();
    // Shards live next to the index: no paths, no escaping the model directory.
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      throw Error(index_name + ": invalid shard name \"" + shard + "\"");
    }
    auto it = file_index.find(shard);
    if (it == file_index.end()) {
      std::string path = files::join(dir, shard);
      if (!files::is_file(path)) throw Error(index_name + " lists " + shard + ", which is missing");
      store->files_.push_back(std::make_unique<SafetensorsFile>(path));
      it = file_index.emplace(shard, store->files_.size() - 1).first;
    }
    if (!store->files_[it->second]->find(tensor)) {
      throw Error(index_name + " places " + tensor + " in " + shard + ", which does not hold it");
    }
    store->shard_of_[tensor] = it->second;
  }
  return store;
}

const TensorView* SafetensorsSource::find(const std::string& tensor) const {
  if (!shard_of_.empty()) {
    auto it = shard_of_.find(tensor);
    return it == shard_of_.end() ? nullptr : files_[it->second]->find(tensor);
  }
  return files_.empty() ? nullptr : files_[0]->find(tensor);
}

}  // namespace tramontane
