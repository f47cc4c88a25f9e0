// The tensors of a GGUF file as a TensorSource: llama.cpp's tensor names (token_embd,
// blk.N.attn_q, ...; WeightNames::for_format(ModelFormat::Gguf)), shapes slowest-first
// like safetensors', each tensor in its stored type, pointing into the mapped file.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "gguf.h"
#include "tensor_source.h"

namespace tramontane {

class GgufSource : public TensorSource {
 public:
  explicit GgufSource(std::unique_ptr<gguf::File> file);

  // A tensor of a ggml type the engine cannot compute with is a one-line Error naming
  // the tensor and its type, raised when the loader asks for it.
  const TensorView* find(const std::string& name) const override;
  const std::string& where() const override { return file_->name(); }
  const gguf::File& file() const { return *file_; }

 private:
  std::unique_ptr<gguf::File> file_;
  std::map<std::string, TensorView> views_;  // the tensors of supported types
};

}  // namespace tramontane
