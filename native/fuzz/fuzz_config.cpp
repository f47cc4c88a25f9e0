// libFuzzer target: config.json (Hugging Face) and params.json (Mistral) through the
// JSON reader and both config parsers. An accepted config must satisfy the checks
// the forward pass relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config.h"
#include "json.h"
#include "tramontane/engine.h"

namespace {

void check(const tramontane::ModelConfig& c) {
  if (c.dim < 1 || c.n_layers < 1 || c.n_heads < 1 || c.n_kv_heads < 1 || c.hidden_dim < 1 ||
      c.vocab_size < 1 || c.head_dim < 1 || c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0) {
    std::abort();
  }
  // The router picks 1 ≤ k ≤ n_experts experts (cpu/experts.cpp).
  if (c.feed_forward == tramontane::FeedForwardKind::MixtureOfExperts &&
      (c.n_experts_per_token < 1 || c.n_experts_per_token > c.n_experts)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tramontane::json::Value root;
  try {
    root = tramontane::json::Value::parse(text, "config.json");
  } catch (const tramontane::Error&) {
    return 0;
  }
  try {
    check(tramontane::parse_hf_config(root, "config.json"));
  } catch (const tramontane::Error&) {
  }
  try {
    check(tramontane::parse_params_json(root, "params.json"));
  } catch (const tramontane::Error&) {
  }
  return 0;
}
