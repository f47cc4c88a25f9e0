// A model folder, opened: its config, the layout its tensors are named in, and the
// tensor source that holds them. This is the one place that knows the weight formats:
//
//   config.json + model.safetensors (or shards)  → HuggingFace layout, SafetensorsSource
//   params.json + consolidated.safetensors       → Consolidated layout, SafetensorsSource
//
// A new format (GGUF) is one more branch here and one more TensorSource; a new model
// family is refused here, before any tensor is read, until every backend runs it.
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "tensor_source.h"

namespace tramontane {

struct ModelFiles {
  ModelConfig config;
  ModelFormat format = ModelFormat::HuggingFace;
  std::unique_ptr<TensorSource> tensors;
};

// Throws a one-line Error for a missing folder or config, an unsupported family, or a
// malformed weight file.
ModelFiles open_model_files(const std::string& dir);

}  // namespace tramontane
