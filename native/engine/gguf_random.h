// A model of a known shape with random weights, written straight to a GGUF file in
// llama.cpp's layout of the llama architecture (gguf_convert.h), tensor by tensor: for
// benchmarks on the same file as llama.cpp where the usual way (a random f16 model,
// converted, then quantized by llama-quantize) does not fit the disk — Mixtral 8x7B is
// 93 GB in F16. Values are random as the CUDA benchmark draws them (uniform in
// ±sqrt(3 / fan_in)), quantized by the engine's quantizers (cpu/quant_blocks.h).
//
// To write 46.7B parameters in seconds, each kind of matrix (q, k, ..., the experts'
// down, in each storage type) draws one pool of at most 4096 random rows, quantized
// once; every tensor of that kind is those rows again, from its own random start row,
// cycling. A decode's speed does not depend on the values, except through the router:
// each layer's ffn_gate_inp has values of its own, so tokens spread over the experts.
#pragma once

#include <cstdint>
#include <string>

#include "tramontane/engine.h"

namespace tramontane {

struct RandomModel {
  std::string shape;      // mistral-7b, mixtral-8x7b, tiny-mixtral, tiny-llama
  std::string file_type;  // Q4_K_M (llama-quantize's mix, quant_mix.h), Q8_0, F16
  std::string tokenizer;  // a SentencePiece tokenizer.model: the vocabulary and its size
  int layers = 0;         // 0: the shape's own
  uint64_t seed = 1;
  int threads = 0;        // quantizing threads; 0: the hardware's
};

// The named shape (vocab_size 0: it comes from the tokenizer). One-line Error when the
// name is unknown.
ModelConfig random_model_shape(const std::string& name);

// Writes the model to path. One-line Error on a bad option, an unreadable tokenizer or
// an unwritable path (a partly written file is removed).
void write_random_gguf(const RandomModel& model, const std::string& path);

}  // namespace tramontane
