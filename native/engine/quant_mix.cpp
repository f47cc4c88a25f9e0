#include "quant_mix.h"

namespace tramontane {

namespace {

// Values per row of the matrix.
int64_t row_length(MatrixRole role, const ModelConfig& c) {
  switch (role) {
    case MatrixRole::O: return int64_t(c.n_heads) * c.head_dim;
    case MatrixRole::Down: return c.hidden_dim;
    default: return c.dim;
  }
}

// llama-quantize's fallback when a row is not a whole number of blocks of the type.
StoredType fit(StoredType t, int64_t cols) {
  if (cols % block_size(t) == 0) return t;
  switch (t) {
    case StoredType::Q4_K: t = StoredType::Q5_0; break;
    case StoredType::Q5_K: t = StoredType::Q5_1; break;
    default: t = StoredType::Q8_0; break;  // Q6_K
  }
  return cols % block_size(t) == 0 ? t : StoredType::F16;
}

}  // namespace

// llama.cpp (src/llama-quant.cpp, llama_tensor_get_type_impl and tensor_type_fallback,
// source of Aug 2026) for LLAMA_FTYPE_MOSTLY_Q4_K_M on the llama architecture:
//   - every matrix Q4_K unless said below; the router and the norms are not quantized;
//   - output.weight Q6_K (Q8_0 when its rows are not whole blocks of 256); token_embd
//     stays Q4_K, unless the embeddings are tied (then it is quantized as output);
//   - "use more bits" layers: i < n/8, i ≥ 7n/8, or (i − n/8) mod 3 = 2, with n layers;
//     attn_v and ffn_down (the stacked ffn_down_exps too, by the layer in their name)
//     are Q6_K in those layers;
//   - with 8 experts (n_expert == 8, Mixtral 8x7B): attn_v and attn_k Q8_0 in every layer
//     (this overrides the Q6_K above) and attn_output Q5_K;
//   - a row that is not a whole number of blocks: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0,
//     and F16 when that does not fit either.
StoredType llama_q4_k_m_type(MatrixRole role, int layer, const ModelConfig& c) {
  const int n = c.n_layers;
  const bool more_bits = layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
  const bool eight_experts = c.feed_forward == FeedForwardKind::MixtureOfExperts && c.n_experts == 8;
  StoredType t = StoredType::Q4_K;
  switch (role) {
    case MatrixRole::LmHead:
      t = c.dim % 256 == 0 ? StoredType::Q6_K : StoredType::Q8_0;
      break;
    case MatrixRole::Embed:
      if (c.tie_embeddings) t = c.dim % 256 == 0 ? StoredType::Q6_K : StoredType::Q8_0;
      break;
    case MatrixRole::V:
      if (eight_experts) t = StoredType::Q8_0;
      else if (more_bits) t = StoredType::Q6_K;
      break;
    case MatrixRole::K:
      if (eight_experts) t = StoredType::Q8_0;
      break;
    case MatrixRole::O:
      if (eight_experts) t = StoredType::Q5_K;
      break;
    case MatrixRole::Down:
      if (more_bits) t = StoredType::Q6_K;
      break;
    default:
      break;
  }
  return fit(t, row_length(role, c));
}

}  // namespace tramontane
