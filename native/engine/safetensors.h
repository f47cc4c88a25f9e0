// Memory-mapped safetensors reader.
//
// Format: [u64 little-endian N][N bytes of JSON header][data]. The header maps each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, offsets relative to
// the start of the data. Everything in the header is checked against the file before
// any pointer is handed out, so a malformed file gives an Error, never a crash.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mapped_file.h"
#include "tensor_source.h"

namespace tramontane {

// One .safetensors file.
class SafetensorsFile {
 public:
  // Largest header accepted; real headers are a few hundred KiB at most.
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  explicit SafetensorsFile(const std::string& path);

  const std::string& name() const { return name_; }  // file name without directory
  const TensorView* find(const std::string& tensor) const;
  const std::vector<TensorView>& tensors() const { return tensors_; }

 private:
  std::string name_;
  std::unique_ptr<MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  // Copies of tensors whose offset in the file is not aligned to their element size.
  std::vector<std::vector<uint32_t>> realigned_;
};

// All tensors of a model: one file, or its shards.
class SafetensorsSource : public TensorSource {
 public:
  // HF layout: model.safetensors.index.json (shards) or model.safetensors.
  static std::unique_ptr<SafetensorsSource> open_hf(const std::string& dir);
  // Mistral's layout, as its repositories publish it: consolidated.safetensors, or
  // shards consolidated-00001-of-0000M.safetensors ... listed by
  // consolidated.safetensors.index.json, or without one (then a tensor held by two
  // shards is an error). The single file beside shards is an error: which one is meant?
  static std::unique_ptr<SafetensorsSource> open_consolidated(const std::string& dir);
  // A single named file (consolidated.safetensors).
  static std::unique_ptr<SafetensorsSource> open_file(const std::string& dir,
                                                      const std::string& name);

  const TensorView* find(const std::string& tensor) const override;
  const std::string& where() const override { return where_; }

 private:
  // The shards named by an index's "weight_map" (tensor → file in dir).
  static std::unique_ptr<SafetensorsSource> open_index(const std::string& dir, const std::string& index_name);

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> shard_of_;  // sharded: tensor name → file index
  std::string where_;
};

}  // namespace tramontane
