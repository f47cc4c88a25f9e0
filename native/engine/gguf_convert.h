// A safetensors model (either layout) written as a llama-architecture GGUF file, the way
// llama.cpp's converter writes Mistral: llama.* keys, llama.cpp's tensor names, q and k
// rows of an HF checkpoint permuted from rotate-half into interleaved RoPE pairs, the
// SentencePiece tokenizer.model (when present) as tokenizer.ggml.*. For tests, the CPU
// benchmark and anyone who wants a quantized file of their own weights.
#pragma once

#include <string>

#include "gguf_writer.h"
#include "sentencepiece_model.h"
#include "tensor.h"
#include "tramontane/engine.h"

namespace tramontane {

// A SentencePiece vocabulary as tokenizer.ggml.* (model "llama": pieces, scores, types,
// special ids, add-BOS, the space prefix), as llama.cpp's converter writes it.
void add_vocabulary(gguf::Writer& out, const spm::ModelProto& model);

// The llama.* keys of a model of this shape (general.architecture and general.name too),
// as llama.cpp's converter writes them.
void add_model_metadata(gguf::Writer& out, const ModelConfig& c, const std::string& name);

// Matrices are stored as `type`; a matrix whose row length is not a multiple of that
// type's block falls back to Q8_0 (rows of 32) or else F16, as llama-quantize falls
// back. Norms stay F32. Throws a one-line Error on a bad model or an unwritable path.
void convert_to_gguf(const std::string& model_dir, const std::string& out_path, StoredType type);

}  // namespace tramontane
