// A loaded model: config, memory-mapped weights, tokenizer, and the backend that runs
// the forward pass all of its sessions share.
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "forward_backend.h"
#include "gguf.h"
#include "kv_cache.h"
#include "safetensors.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"
#include "weights.h"

namespace tramontane {

class LoadedModel : public Model {
 public:
  // dir: a safetensors model folder, a .gguf file, or a folder holding one .gguf.
  LoadedModel(const std::string& dir, const LoadOptions& options);

  const ModelConfig& config() const override { return config_; }
  BackendKind backend() const override { return backend_ ? backend_->kind() : BackendKind::Cpu; }
  const Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  std::unique_ptr<Session> new_session(const SessionOptions& options) override;

  // What sessions call (see ForwardBackend).
  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) {
    return backend_->new_cache(capacity, chunk);
  }
  void forward(KvCache& cache, const int* tokens, int n, float* logits, bool all_rows) {
    backend_->forward(cache, tokens, n, logits, all_rows);
  }
  bool decode_greedy(KvCache& cache, int token, int* next) {
    return backend_->decode_greedy(cache, token, next);
  }
  void read_last_logits(KvCache& cache, float* logits) {
    backend_->read_last_logits(cache, logits);
  }

 private:
  ModelConfig config_;
  ModelFormat format_;
  TensorStore store_;
  std::unique_ptr<gguf::File> gguf_;  // a GGUF model's file (weights point into it)
  Weights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ForwardBackend> backend_;  // refers to config_ and weights_; null for a
                                             // vocabulary-only GGUF
};

}  // namespace tramontane
