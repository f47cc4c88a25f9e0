#include "model.h"

#include <thread>

#include "gguf_model.h"
#include "session.h"
#include "tokenizer_gguf.h"

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

// The GGUF file to load: path itself when it names one, else the single .gguf in a
// folder without config.json / params.json; "" for a safetensors model.
static std::string gguf_model_path(const std::string& path) {
  if (gguf::is_gguf_path(path) && files::is_file(path)) return path;
  if (!files::is_directory(path) || files::is_file(files::join(path, "config.json")) ||
      files::is_file(files::join(path, "params.json"))) {
    return "";
  }
  return gguf::find_in_directory(path);
}

#ifdef TRAMONTANE_WITH_CUDA
static bool has_quantized_weights(const Weights& w) {
  if (is_quantized(w.embed.dtype) || is_quantized(w.lm_head.dtype)) return true;
  for (const LayerWeights& l : w.layers) {
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (is_quantized(m->dtype)) return true;
    }
  }
  return false;
}
#endif

LoadedModel::LoadedModel(const std::string& dir, const LoadOptions& options) {
  const int threads = thread_count(options.threads);
  const std::string gguf_path = gguf_model_path(dir);
  if (!gguf_path.empty()) {
    gguf_ = std::make_unique<gguf::File>(gguf_path);
    format_ = ModelFormat::Consolidated;  // interleaved RoPE rows
    tokenizer_ = gguf_tokenizer(*gguf_);
    if (gguf_->tensors().empty()) {  // a vocabulary-only file: it tokenizes, it does not run
      if (!tokenizer_) gguf_->fail("no tensors and no tokenizer");
      config_ = gguf_vocabulary_config(*gguf_, *tokenizer_);
      return;
    }
    config_ = gguf_config(*gguf_, options.sliding_window);
    config_.window_missing = config_.sliding_window == 0 && gguf_window_missing(*gguf_, config_);
    weights_ = gguf_weights(*gguf_, config_, options.on_progress);
  } else {
    LoadedConfig loaded = load_config(dir);
    config_ = loaded.config;
    format_ = loaded.format;
    store_ = format_ == ModelFormat::HuggingFace
                 ? TensorStore::open_hf(dir)
                 : TensorStore::open_file(dir, "consolidated.safetensors");
    weights_ = load_weights(store_, config_, format_, options.on_progress);
    tokenizer_ = Tokenizer::load_from_dir(dir);
  }
  if (tokenizer_ && tokenizer_->vocab_size() > config_.vocab_size) {
    throw Error("the tokenizer has " + std::to_string(tokenizer_->vocab_size()) +
                " tokens but the model only " + std::to_string(config_.vocab_size));
  }
#ifdef TRAMONTANE_WITH_CUDA
  const bool quantized = has_quantized_weights(weights_);
  if (quantized && options.backend == BackendKind::Cuda) {
    throw Error("quantized weights are not yet supported on the CUDA backend; use --backend cpu");
  }
  if (options.backend == BackendKind::Cuda ||
      (options.backend == BackendKind::Auto && !quantized && cuda_device_available())) {
    backend_ = make_cuda_backend(config_, weights_);
    return;
  }
#endif
  backend_ = make_cpu_backend(config_, weights_, threads);
}

std::unique_ptr<Session> LoadedModel::new_session(const SessionOptions& options) {
  if (!backend_) {
    throw Error(gguf_->name() + " holds only a vocabulary (no tensors): it can tokenize, not run");
  }
  auto self = std::static_pointer_cast<LoadedModel>(shared_from_this());
  return std::make_unique<ModelSession>(std::move(self), options);
}

}  // namespace tramontane
