// The model's weights, named once for both checkpoint layouts and checked against the
// config. Matrices point into the tensor source's memory (bf16 stays bf16); only the
// small norm vectors are copied to fp32.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "tensor.h"
#include "tensor_source.h"

namespace tramontane {

// The dense feed-forward block: a SwiGLU MLP, x += (silu(x Wgateᵀ) ⊙ x Wupᵀ) Wdownᵀ. Each
// expert of a mixture is one too.
struct FeedForwardWeights {
  Matrix gate;  // [hidden_dim, dim]  (w1 in consolidated and Mixtral checkpoints)
  Matrix up;    // [hidden_dim, dim]  (w3)
  Matrix down;  // [dim, hidden_dim]  (w2)
};

// A sparse mixture of experts (Mixtral): the router scores every expert for a token and
// the n_experts_per_token best of them run (cpu/experts.h).
struct ExpertWeights {
  Matrix router;                            // [n_experts, dim]
  std::vector<FeedForwardWeights> experts;  // n_experts SwiGLU MLPs
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [dim]
  Matrix wq;                     // [n_heads * head_dim, dim]
  Matrix wk;                     // [n_kv_heads * head_dim, dim]
  Matrix wv;                     // [n_kv_heads * head_dim, dim]
  Matrix wo;                     // [dim, n_heads * head_dim]
  std::vector<float> ffn_norm;   // [dim]
  FeedForwardWeights ffn;        // FeedForwardKind::Dense
  ExpertWeights moe;             // FeedForwardKind::MixtureOfExperts
};

struct Weights {
  Matrix embed;                   // [vocab, dim]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [dim]
  Matrix lm_head;                 // [vocab, dim]; the embedding table when tied
};

// Tensor names of one layout, e.g. "model.layers.3.mlp.up_proj.weight" (HF) or
// "layers.3.feed_forward.w3.weight" (consolidated).
struct WeightNames {
  std::string embed, final_norm, lm_head;
  std::string attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;  // with "{}" for N
  // A mixture of experts: the router ("{}" for N) and each expert's gate/up/down ("{}" for
  // N, then "{}" for the expert). GGUF stacks a layer's experts in one [n_experts, rows,
  // cols] tensor per matrix (stacked_*, "{}" for N); its older files name them one by one.
  std::string router, expert_gate, expert_up, expert_down;
  std::string stacked_gate, stacked_up, stacked_down;  // empty where the layout has none
  static WeightNames for_format(ModelFormat format);
  std::string layer(const std::string& pattern, int index) const;
  std::string expert(const std::string& pattern, int layer, int expert) const;
};

// Looks up every tensor the config implies, with its shape. Throws a one-line Error
// naming the first missing tensor or wrong shape. progress(f) is called with f in
// [0, 1] while the mapped pages are touched (read from disk) layer by layer.
Weights load_weights(const TensorSource& source, const ModelConfig& config, ModelFormat format,
                     const std::function<void(float)>& progress);

// Reads one byte per page of every matrix, reporting progress per layer.
void touch_weights(const Weights& weights, const ModelConfig& config,
                   const std::function<void(float)>& progress);

}  // namespace tramontane
