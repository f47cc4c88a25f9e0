// The CPU model: config, memory-mapped weights, tokenizer and the forward pass that
// all of its sessions share.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "forward.h"
#include "kv_cache.h"
#include "safetensors.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"
#include "weights.h"

namespace tramontane {

class CpuModel : public Model {
 public:
  CpuModel(const std::string& dir, const LoadOptions& options);

  const ModelConfig& config() const override { return config_; }
  BackendKind backend() const override { return BackendKind::Cpu; }
  const Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  std::unique_ptr<Session> new_session(const SessionOptions& options) override;

  int threads() const { return forward_->threads(); }

  // What sessions call. Forward passes of all sessions take turns on one mutex: they
  // share the thread pool and the scratch buffers.
  void reserve(int chunk, int64_t max_keys);
  void forward(KvCache& cache, const int* tokens, int n, float* logits, bool all_rows);

 private:
  ModelConfig config_;
  ModelFormat format_;
  TensorStore store_;
  Weights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::mutex mutex_;
  std::unique_ptr<cpu::Forward> forward_;
};

}  // namespace tramontane
