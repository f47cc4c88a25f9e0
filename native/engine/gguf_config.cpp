#include "gguf_model.h"

#include <cmath>

#include "config.h"

namespace tramontane {

namespace {

// An integer key in [1, max]; `fallback` when absent (0: required).
int positive(const gguf::File& file, const std::string& key, int fallback, int64_t max = 1 << 24) {
  const std::optional<int64_t> v = file.integer(key);
  if (!v) {
    if (fallback > 0) return fallback;
    file.fail("metadata " + key + " is missing");
  }
  if (*v < 1 || *v > max) {
    file.fail("metadata " + key + " must be between 1 and " + std::to_string(max) + ", found " + std::to_string(*v));
  }
  return int(*v);
}

}  // namespace

ModelConfig gguf_config(const gguf::File& file, int sliding_window) {
  const std::optional<std::string> arch = file.string("general.architecture");
  if (!arch) file.fail("metadata general.architecture is missing");
  if (*arch != "llama") {
    file.fail("architecture \"" + *arch + "\" is not supported (only \"llama\": Mistral, Mixtral, Codestral as llama.cpp converts them)");
  }
  if (const std::optional<std::string> scaling = file.string("llama.rope.scaling.type");
      scaling && *scaling != "none") {
    file.fail("RoPE scaling \"" + *scaling + "\" is not supported (only the default RoPE)");
  }

  ModelConfig c;
  c.dim = positive(file, "llama.embedding_length", 0);
  c.n_layers = positive(file, "llama.block_count", 0, 4096);
  c.hidden_dim = positive(file, "llama.feed_forward_length", 0);
  c.n_heads = positive(file, "llama.attention.head_count", 0, 4096);
  c.n_kv_heads = positive(file, "llama.attention.head_count_kv", c.n_heads, 4096);
  if (file.integer("llama.attention.key_length")) {
    c.head_dim = positive(file, "llama.attention.key_length", 0, 1 << 16);
  } else {
    if (c.dim % c.n_heads != 0) {
      file.fail("llama.embedding_length is not a multiple of llama.attention.head_count and "
                "llama.attention.key_length is not given");
    }
    c.head_dim = c.dim / c.n_heads;
  }
  if (file.integer("llama.attention.value_length") &&
      positive(file, "llama.attention.value_length", 0, 1 << 16) != c.head_dim) {
    file.fail("llama.attention.value_length differs from the key length (not supported)");
  }
  if (file.integer("llama.rope.dimension_count") &&
      positive(file, "llama.rope.dimension_count", 0, 1 << 16) != c.head_dim) {
    file.fail("llama.rope.dimension_count differs from the head dimension (partial RoPE is not supported)");
  }
  c.max_position = file.integer("llama.context_length") ? positive(file, "llama.context_length", 0) : 0;
  c.sliding_window = file.integer("llama.attention.sliding_window")
                         ? positive(file, "llama.attention.sliding_window", 0)
                         : 0;
  if (c.sliding_window == 0 && sliding_window > 0) c.sliding_window = sliding_window;
  c.rope_theta = float(file.number("llama.rope.freq_base").value_or(10000.0));
  c.norm_eps = float(file.number("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_layout = RopeLayout::Interleaved;
  // A mixture of experts (Mixtral): llama.expert_count experts, llama.expert_used_count
  // of them per token. A count of 0 is llama.cpp's way of saying dense.
  if (file.integer("llama.expert_count").value_or(0) != 0) {
    c.feed_forward = FeedForwardKind::MixtureOfExperts;
    c.n_experts = positive(file, "llama.expert_count", 0, 4096);
    c.n_experts_per_token = positive(file, "llama.expert_used_count", 0, 4096);
  }

  // The vocabulary is the embedding's row count; a vocabulary-only file has the tokens.
  if (const gguf::Tensor* embed = file.tensor("token_embd.weight")) {
    if (embed->n_dims != 2 || embed->ne[1] > (1 << 24)) file.fail("tensor token_embd.weight: expected 2 dimensions");
    c.vocab_size = int(embed->ne[1]);
  } else if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
             tokens && tokens->type == gguf::ValueType::Array && tokens->count <= (1u << 24)) {
    c.vocab_size = int(tokens->count);
  } else {
    c.vocab_size = positive(file, "llama.vocab_size", 0);
  }
  c.tie_embeddings = file.tensor("output.weight") == nullptr;
  c.bos_id = int(file.integer("tokenizer.ggml.bos_token_id").value_or(1));
  c.eos_id = int(file.integer("tokenizer.ggml.eos_token_id").value_or(2));
  validate_config(c, file.name());
  return c;
}

ModelConfig gguf_vocabulary_config(const gguf::File& file, const Tokenizer& tokenizer) {
  (void)file;
  ModelConfig c;
  c.vocab_size = tokenizer.vocab_size();
  c.bos_id = tokenizer.bos_id();
  c.eos_id = tokenizer.eos_id();
  c.rope_layout = RopeLayout::Interleaved;
  return c;
}

bool gguf_window_missing(const gguf::File& file, const ModelConfig& c) {
  // Mixtral 8x7B shares the shape, but has no window.
  return !file.integer("llama.attention.sliding_window") && c.feed_forward == FeedForwardKind::Dense &&
         c.dim == 4096 && c.n_layers == 32 &&
         c.n_heads == 32 && c.n_kv_heads == 8 && c.hidden_dim == 14336 && c.vocab_size == 32000 &&
         c.rope_theta == 10000.f;
}

}  // namespace tramontane
