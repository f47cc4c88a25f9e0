// A model folder, opened: its config, the layout its tensors are named in, and the
// tensor source that holds them. This is the one place that knows the weight formats:
//
//   config.json + model.safetensors (or shards)  → HuggingFace layout, SafetensorsSource
//   params.json + consolidated.safetensors       → Consolidated layout, SafetensorsSource
//     (or shards consolidated-0000N-of-0000M.safetensors)
//   a .gguf file, or a folder holding one only     → Gguf layout, GgufSource; the config
//                                                    and the tokenizer from its metadata
//
// A new format is one more branch here and one more TensorSource; a new model family is
// refused here, before any tensor is read, until every backend runs it.
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "tensor_source.h"
#include "tramontane/tokenizer.h"

namespace tramontane {

struct ModelFiles {
  ModelConfig config;
  ModelFormat format = ModelFormat::HuggingFace;
  std::unique_ptr<TensorSource> tensors;
  // The tokenizer a GGUF file carries; null for safetensors (the folder's tokenizer
  // files are read by Tokenizer::load_from_dir).
  std::unique_ptr<Tokenizer> tokenizer;
  // A GGUF file with a vocabulary and no tensors: it tokenizes, it does not run.
  bool vocabulary_only = false;
};

// Throws a one-line Error for a missing folder or config, an unsupported family, or a
// malformed weight file. `sliding_window` > 0 supplies a window to a GGUF file that
// carries none (files converted from Mistral 7B v0.1); 0 = as the files say.
ModelFiles open_model_files(const std::string& path, int sliding_window);

}  // namespace tramontane
