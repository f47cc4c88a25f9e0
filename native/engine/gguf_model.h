// A model read from one GGUF file as llama.cpp's converter writes Mistral, Codestral
// and Mixtral: the `llama` architecture, its hyper-parameters under `llama.*`, its
// tensors under llama.cpp's names, q and k rows in interleaved-pair RoPE order (the
// layout of Mistral's consolidated weights, RopeLayout::Interleaved).
#pragma once

#include "gguf.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"
#include "weights.h"

namespace tramontane {

// The config from the metadata:
//   llama.embedding_length → dim            llama.block_count → n_layers
//   llama.feed_forward_length → hidden_dim  llama.attention.head_count[_kv] → heads
//   llama.attention.key_length → head_dim (default dim / heads)
//   llama.rope.freq_base → rope_theta (default 10000)
//   llama.attention.layer_norm_rms_epsilon → norm_eps (default 1e-5)
//   llama.context_length → max_position     llama.attention.sliding_window → window
//   llama.expert_count, llama.expert_used_count → a mixture of experts (when the count > 0)
//   the vocabulary: token_embd's rows (or the tokenizer's tokens in a vocabulary-only file)
// Another architecture, RoPE scaling or a partial rotary dimension are refused in one line. `sliding_window` > 0 supplies a
// window where the file carries none (files from Mistral 7B v0.1).
ModelConfig gguf_config(const gguf::File& file, int sliding_window);

// A vocabulary-only file (no tensors): the vocabulary size and special ids only.
ModelConfig gguf_vocabulary_config(const gguf::File& file, const Tokenizer& tokenizer);

// True when the file looks like Mistral 7B v0.1 (its shape, RoPE base 10000, a 32000
// vocabulary, dense) but carries no sliding window: its 4096-token window must be supplied.
// Mixtral 8x7B has the same shape but no window.
bool gguf_window_missing(const gguf::File& file, const ModelConfig& config);

}  // namespace tramontane
