// Model hyper-parameters from either of the two formats Mistral models ship in:
//   - Hugging Face: config.json + model.safetensors (or shards), rotate-half RoPE rows;
//   - Mistral's own: params.json + consolidated.safetensors, interleaved RoPE pairs.
#pragma once

#include <cstdint>
#include <string>

#include "json.h"
#include "tramontane/engine.h"

namespace tramontane {

// Which layout a model's files follow: where its config is and how its tensors are named
// (weights.cpp) and laid out (RoPE rows).
// Where the tensor names come from: HF, Mistral's consolidated files, or llama.cpp's
// GGUF names (interleaved RoPE rows, like consolidated).
enum class ModelFormat { HuggingFace, Consolidated, Gguf };

struct LoadedConfig {
  ModelConfig config;
  ModelFormat format = ModelFormat::HuggingFace;
};

// Looks for config.json, then params.json, in dir. Throws a one-line Error when the
// directory or both files are missing, or when a value is absent or out of range.
LoadedConfig load_config(const std::string& dir);

// The checks every config passes, whatever its source (the forward pass relies on them).
void validate_config(const ModelConfig& config, const std::string& what);

// The two parsers on their own (what = file name used in messages).
ModelConfig parse_hf_config(const json::Value& root, const std::string& what);
ModelConfig parse_params_json(const json::Value& root, const std::string& what);

namespace files {
// Reads a whole small file; throws Error naming the path when it cannot or when it
// holds more than max_bytes.
std::string read_text(const std::string& path, size_t max_bytes = SIZE_MAX);
bool is_file(const std::string& path);
bool is_directory(const std::string& path);
std::string join(const std::string& dir, const std::string& name);
}  // namespace files

}  // namespace tramontane
