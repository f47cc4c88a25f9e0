// One chunk of tokens through the model, top to bottom:
//
//   x = embed(tokens)
//   for each layer:
//     h = rmsnorm(x) ; q, k, v = h Wqᵀ, h Wkᵀ, h Wvᵀ ; rope(q, k)
//     a = attention(q, cached keys in the window + k, v)   then cache ← k, v
//     x += a Woᵀ
//     x += feed_forward(rmsnorm(x))        the family's block; dense (Mistral):
//                                           (silu(h W_gateᵀ) ⊙ h W_upᵀ) W_downᵀ;
//                                           mixture of experts (Mixtral): the
//                                           router's k experts, weighted (experts.cpp)
//   logits = rmsnorm(x) W_lm_headᵀ
#include "forward.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tramontane::cpu {

Forward::Forward(const ModelConfig& config, const Weights& weights, int threads)
    : c_(config), w_(weights), pool_(threads) {}

void Forward::reserve(int chunk, int64_t max_keys) {
  const int64_t widest = std::max<int64_t>({c_.dim, c_.hidden_dim, int64_t(c_.n_heads) * c_.head_dim});
  matmul_scratch_.reserve(pool_.size(), widest);
  if (max_keys > max_keys_ || chunk > chunk_) {
    max_keys_ = std::max(max_keys, max_keys_);
    const AttentionShape shape{c_.n_heads, c_.n_kv_heads, c_.head_dim, c_.sliding_window};
    attention_scratch_.reserve(pool_.size(), max_keys_, std::max(chunk, chunk_), shape);
  }
  if (chunk <= chunk_) return;
  chunk_ = chunk;
  const size_t n = size_t(chunk);
  const size_t q_dim = size_t(c_.n_heads) * c_.head_dim;
  const size_t kv_dim = size_t(c_.n_kv_heads) * c_.head_dim;
  x_.resize(n * c_.dim);
  xb_.resize(n * c_.dim);
  q_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  att_.resize(n * q_dim);
  gate_.resize(n * c_.hidden_dim);
  up_.resize(n * c_.hidden_dim);
  cos_.resize(n * c_.head_dim / 2);
  sin_.resize(n * c_.head_dim / 2);
  if (c_.feed_forward == FeedForwardKind::MixtureOfExperts) {
    const size_t k = size_t(c_.n_experts_per_token);
    router_logits_.resize(n * c_.n_experts);
    chosen_.resize(n * k);
    chosen_weight_.resize(n * k);
    route_queue_.resize(size_t(c_.n_experts));
    expert_token_.resize(n);
    expert_weight_.resize(n);
    expert_in_.resize(n * c_.dim);
    expert_out_.resize(n * c_.dim);
    moe_out_.resize(n * c_.dim);
  }
}

void Forward::run(KvBuffer& cache, const Batch& batch, float* logits, bool all_rows) {
  const int n = batch.n;
  if (n < 1 || n > chunk_) {
    throw Error("forward pass of " + std::to_string(n) + " tokens does not fit the " +
                std::to_string(chunk_) + "-token scratch");
  }
  const int dim = c_.dim;
  const size_t kv_dim = size_t(c_.n_kv_heads) * c_.head_dim;
  const int64_t pos0 = batch.pos;
  const AttentionShape shape{c_.n_heads, c_.n_kv_heads, c_.head_dim, c_.sliding_window};
  float* x = x_.data();
  float* xb = xb_.data();

  embed(x, w_.embed, batch.tokens, n);
  rope_tables(cos_.data(), sin_.data(), pos0, n, c_.head_dim, c_.rope_theta);

  for (int l = 0; l < c_.n_layers; ++l) {
    const LayerWeights& lw = w_.layers[size_t(l)];

    // Attention block.
    rmsnorm(xb, x, lw.attn_norm.data(), n, dim, c_.norm_eps);
    matmul(q_.data(), xb, n, lw.wq, pool_, matmul_scratch_);
    matmul(k_.data(), xb, n, lw.wk, pool_, matmul_scratch_);
    matmul(v_.data(), xb, n, lw.wv, pool_, matmul_scratch_);
    rope(q_.data(), n, c_.n_heads, c_.head_dim, cos_.data(), sin_.data(), c_.rope_layout);
    rope(k_.data(), n, c_.n_kv_heads, c_.head_dim, cos_.data(), sin_.data(), c_.rope_layout);
    // The chunk's keys and values as the cache will hold them (f16: rounded), so that
    // a query reads the same keys now as from the cache later.
    cache.round_to_storage(k_.data(), size_t(n) * kv_dim);
    cache.round_to_storage(v_.data(), size_t(n) * kv_dim);
    attention(att_.data(), q_.data(), k_.data(), v_.data(), n, pos0, cache, l, shape, pool_,
              attention_scratch_);
    // Only now may the chunk overwrite slots: its queries have read the old keys. Of a
    // chunk longer than the cache, only the last capacity() positions survive anyway.
    for (int t = std::max(0, n - cache.capacity()); t < n; ++t)
      cache.write(l, pos0 + t, k_.data() + size_t(t) * kv_dim, v_.data() + size_t(t) * kv_dim);
    matmul(xb, att_.data(), n, lw.wo, pool_, matmul_scratch_);
    add(x, xb, size_t(n) * dim);

    feed_forward(lw, x, n);
  }

  // Final norm and the vocabulary projection, for the rows the caller wants.
  const int first = all_rows ? 0 : n - 1;
  const int rows = n - first;
  rmsnorm(xb, x + size_t(first) * dim, w_.final_norm.data(), rows, dim, c_.norm_eps);
  matmul(logits, xb, rows, w_.lm_head, pool_, matmul_scratch_);
}

void Forward::feed_forward(const LayerWeights& lw, float* x, int n) {
  float* xb = xb_.data();
  rmsnorm(xb, x, lw.ffn_norm.data(), n, c_.dim, c_.norm_eps);
  switch (c_.feed_forward) {
    case FeedForwardKind::Dense:  // SwiGLU
      matmul(gate_.data(), xb, n, lw.ffn.gate, pool_, matmul_scratch_);
      matmul(up_.data(), xb, n, lw.ffn.up, pool_, matmul_scratch_);
      swiglu(gate_.data(), up_.data(), size_t(n) * c_.hidden_dim);
      matmul(xb, gate_.data(), n, lw.ffn.down, pool_, matmul_scratch_);
      break;
    case FeedForwardKind::MixtureOfExperts:
      mixture_of_experts(lw.moe, xb, moe_out_.data(), n);
      std::memcpy(xb, moe_out_.data(), size_t(n) * c_.dim * sizeof(float));
      break;
  }
  add(x, xb, size_t(n) * c_.dim);
}

}  // namespace tramontane::cpu
