// The CPU forward pass of a Mistral-architecture decoder: the reference every other
// backend is checked against.
#pragma once

#include <cstdint>
#include <vector>

#include "attention.h"
#include "experts.h"
#include "kv_buffer.h"
#include "kv_cache.h"
#include "ops.h"
#include "thread_pool.h"
#include "weights.h"

namespace tramontane::cpu {

class Forward {
 public:
  Forward(const ModelConfig& config, const Weights& weights, int threads);

  // Sizes the scratch buffers for chunks of up to `chunk` tokens whose queries see up
  // to `max_keys` keys. Only grows. Not thread-safe (call under the model's lock).
  void reserve(int chunk, int64_t max_keys);

  // Runs the batch (n ≤ the reserved chunk) at positions batch.pos .. batch.pos + n − 1.
  // Every layer reads the cache first, then writes the batch's keys and values into it.
  // logits receives [n][vocab] when all_rows, else only the last token's [vocab]. No
  // allocation. Not thread-safe.
  void run(KvBuffer& cache, const Batch& batch, float* logits, bool all_rows);

 private:
  // x += the layer's feed-forward block applied to rmsnorm(x): the model family's step.
  void feed_forward(const LayerWeights& lw, float* x, int n);
  // out = the mixture of experts applied to x ([n][dim] each): experts.cpp.
  void mixture_of_experts(const ExpertWeights& w, const float* x, float* out, int n);

  const ModelConfig& c_;
  const Weights& w_;
  ThreadPool pool_;
  MatmulScratch matmul_scratch_;
  AttentionScratch attention_scratch_;
  int chunk_ = 0;
  int64_t max_keys_ = 0;

  // Activations for one chunk, [chunk][features].
  std::vector<float> x_;      // residual stream      [chunk][dim]
  std::vector<float> xb_;     // normed input / proj  [chunk][dim]
  std::vector<float> q_;      // queries              [chunk][n_heads * head_dim]
  std::vector<float> k_;      // keys                 [chunk][n_kv_heads * head_dim]
  std::vector<float> v_;      // values               [chunk][n_kv_heads * head_dim]
  std::vector<float> att_;    // attention output     [chunk][n_heads * head_dim]
  std::vector<float> gate_;   // MLP gate / hidden    [chunk][hidden_dim]
  std::vector<float> up_;     // MLP up               [chunk][hidden_dim]
  std::vector<float> cos_;    // RoPE tables          [chunk][head_dim / 2]
  std::vector<float> sin_;

  // A mixture of experts only (k = n_experts_per_token).
  std::vector<float> router_logits_;    // [chunk][n_experts]
  std::vector<int> chosen_;             // [chunk][k] experts per token
  std::vector<float> chosen_weight_;    // [chunk][k] their weights
  std::vector<RouteEntry> route_queue_; // [n_experts]
  std::vector<int> expert_token_;       // [chunk] tokens routed to the expert at hand
  std::vector<float> expert_weight_;    // [chunk] with their weights
  std::vector<float> expert_in_;        // [chunk][dim] their rows of the normed input
  std::vector<float> expert_out_;       // [chunk][dim] the expert's output for them
  std::vector<float> moe_out_;          // [chunk][dim] the weighted sum
};

}  // namespace tramontane::cpu
