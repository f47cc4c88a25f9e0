#include "model.h"

#include <thread>

#include "model_files.h"
#include "session.h"

namespace tramontane {

std::shared_ptr<Model> Model::load(const std::string& dir, const LoadOptions& options) {
#ifndef TRAMONTANE_WITH_CUDA
  if (options.backend == BackendKind::Cuda) {
    throw Error("this build has no CUDA backend (use the cpu backend)");
  }
#endif
  return std::make_shared<LoadedModel>(dir, options);
}

static int thread_count(int requested) {
  if (requested < 0 || requested > 1024) {
    throw Error("threads must be between 0 (all cores) and 1024, got " + std::to_string(requested));
  }
  if (requested > 0) return requested;
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? int(cores) : 1;
}

LoadedModel::LoadedModel(const std::string& dir, const LoadOptions& options) : path_(dir) {
  const int threads = thread_count(options.threads);
  ModelFiles files = open_model_files(dir, options.sliding_window);
  config_ = files.config;
  tensors_ = std::move(files.tensors);
  tokenizer_ = files.tokenizer ? std::move(files.tokenizer) : Tokenizer::load_from_dir(dir);
  if (files.vocabulary_only) return;  // it tokenizes; new_session says why it cannot run
  weights_ = load_weights(*tensors_, config_, files.format, options.on_progress);
  if (tokenizer_ && tokenizer_->vocab_size() > config_.vocab_size) {
    throw Error("the tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                " tokens but the model only " + std::to_string(config_.vocab_size));
  }
#ifdef TRAMONTANE_WITH_CUDA
  if (options.backend == BackendKind::Cuda ||
      (options.backend == BackendKind::Auto && cuda_unsupported(config_).empty() &&
       cuda_device_available())) {
    backend_ = make_cuda_backend(config_, weights_);
    return;
  }
#endif
  backend_ = make_cpu_backend(config_, weights_, threads, options.kv_cache);
}

const HealMask& LoadedModel::heal_mask() {
  std::call_once(heal_once_, [&] { heal_mask_ = std::make_unique<HealMask>(*tokenizer_); });
  return *heal_mask_;
}

std::unique_ptr<Session> LoadedModel::new_session(const SessionOptions& options) {
  if (!backend_) {
    throw Error(path_ + " holds only a vocabulary (no tensors): it can tokenize, not run");
  }
  auto self = std::static_pointer_cast<LoadedModel>(shared_from_this());
  return std::make_unique<ModelSession>(std::move(self), options);
}

}  // namespace tramontane
