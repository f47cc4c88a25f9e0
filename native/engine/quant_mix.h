// The storage type llama.cpp's llama-quantize gives each matrix of a llama-architecture
// model (Mistral, Mixtral) for the Q4_K_M file type: for random models that stand in for
// the files people download (GGUF files written by tramontane-gguf_random, the CUDA
// benchmark's Q4_K_M mix).
#pragma once

#include "tensor.h"
#include "tramontane/engine.h"

namespace tramontane {

// A weight matrix by its place in the model (a mixture's stacked experts count as their
// gate, up or down).
enum class MatrixRole { Embed, LmHead, Q, K, V, O, Gate, Up, Down };

// Its type in a Q4_K_M file; `layer` is ignored for Embed and LmHead.
StoredType llama_q4_k_m_type(MatrixRole role, int layer, const ModelConfig& c);

}  // namespace tramontane
