#include "model_files.h"

#include "safetensors.h"

namespace tramontane {

// The families every backend runs. A mixture of experts (Mixtral) parses, and is
// refused here with its shape rather than failing later on a missing MLP tensor.
static void require_supported_family(const ModelConfig& c, const std::string& dir) {
  if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
    throw Error(dir + ": mixture-of-experts models (" + std::to_string(c.n_experts) +
                " experts, " + std::to_string(c.n_experts_per_token) +
                " per token, as Mixtral) are not supported yet");
  }
}

ModelFiles open_model_files(const std::string& dir) {
  LoadedConfig loaded = load_config(dir);
  require_supported_family(loaded.config, dir);
  ModelFiles files;
  files.config = loaded.config;
  files.format = loaded.format;
  if (loaded.format == ModelFormat::HuggingFace) {
    files.tensors = SafetensorsSource::open_hf(dir);
  } else {
    files.tensors = SafetensorsSource::open_file(dir, "consolidated.safetensors");
  }
  return files;
}

}  // namespace tramontane
