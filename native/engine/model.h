// A loaded model: config, weights (from the folder's tensor source), tokenizer, and
// the backend that runs the forward pass all of its sessions share.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "forward_backend.h"
#include "heal.h"
#include "kv_cache.h"
#include "mapped_file.h"
#include "tensor_source.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"
#include "weights.h"

namespace tramontane {

class LoadedModel : public Model {
 public:
  LoadedModel(const std::string& dir, const LoadOptions& options);

  const ModelConfig& config() const override { return config_; }
  BackendKind backend() const override { return backend_ ? backend_->kind() : BackendKind::Cpu; }
  const Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  std::unique_ptr<Session> new_session(const SessionOptions& options) override;

  // A session's cache (see ForwardBackend::new_cache).
  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) {
    return backend_->new_cache(capacity, chunk);
  }

  // Token healing's mask (heal.h), built once, at the first healed generation of any of
  // the model's sessions. Needs the tokenizer.
  const HealMask& heal_mask();

 private:
  ModelConfig config_;
  std::unique_ptr<TensorSource> tensors_;  // the weights point into it
  Weights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ForwardBackend> backend_;  // refers to config_ and weights_; null for a
                                             // vocabulary-only GGUF file
  std::string path_;
  std::once_flag heal_once_;
  std::unique_ptr<HealMask> heal_mask_;
};

}  // namespace tramontane
