// Where a model's weights come from: a store that names its tensors, with their shape,
// stored type and bytes (tensor.h). The loader (weights.cpp) asks a source for the
// tensors a model family needs and never learns the file format.
//
// Implementations: SafetensorsSource (safetensors.h: one file or its shards, for both
// the HF and Mistral layouts). A new format is a new TensorSource plus a branch in
// model_files.cpp; the forward passes do not change.
#pragma once

#include <string>

#include "tensor.h"

namespace tramontane {

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Null when absent. The view (and its data) lives as long as the source.
  virtual const TensorView* find(const std::string& name) const = 0;
  // Where a missing tensor should have been, for messages ("model.safetensors").
  virtual const std::string& where() const = 0;
};

}  // namespace tramontane
