// The CPU reference operators: plain loops over fp32 (the dot products through the
// four-lane helpers of simd.h); every GPU kernel is checked against these.
//
// Layout: activations are row-major [n tokens][features]. Every reduction uses a fixed
// summation order that does not depend on n or on the thread split, so a token's
// result is the same whether it is computed alone or inside a chunk.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor.h"
#include "thread_pool.h"
#include "tramontane/engine.h"

namespace tramontane::cpu {

// a · b over n floats, in the summation order simd.h defines (as matmul's).
float dot(const float* a, const float* b, int n);

// Per-worker scratch for matmul: room to widen kMatmulTile rows of a 16-bit matrix.
constexpr int kMatmulTile = 16;
struct MatmulScratch {
  std::vector<std::vector<float>> per_worker;  // [worker][kMatmulTile * max_cols]
  std::vector<uint8_t> activations;            // quantized weights: the chunk's 8-bit x
  void reserve(int workers, int64_t max_cols);
};

// out[t][o] = Σ_i x[t][i] · W[o][i] for t < n: y = W x for each of n tokens.
// x: [n][W.cols], out: [n][W.rows]. Parallel over output rows (matmul.cpp).
void matmul(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
            MatmulScratch& scratch);

// Rows of the embedding table: out[t] = table[tokens[t]], widened to fp32. out: [n][dim].
void embed(float* out, const Matrix& table, const int* tokens, int n);

// RMSNorm as HF computes it in fp32: out = w ⊙ x / sqrt(mean(x²) + eps). x, out: [n][dim].
void rmsnorm(float* out, const float* x, const float* weight, int n, int dim, float eps);

// cos/sin tables for positions pos0..pos0+n−1: [n][head_dim/2], angle = p · θ^(−2i/d).
void rope_tables(float* cos_out, float* sin_out, int64_t pos0, int n, int head_dim, float theta);

// Rotates every head of x ([n][heads * head_dim]) in place, by layout:
//   RotateHalf  (HF):         pairs (i, i + d/2)
//   Interleaved (consolidated): pairs (2i, 2i + 1)
void rope(float* x, int n, int heads, int head_dim, const float* cos, const float* sin,
          RopeLayout layout);

// gate[i] = silu(gate[i]) · up[i]  (SwiGLU), count elements.
void swiglu(float* gate, const float* up, size_t count);

// x[i] += y[i]
void add(float* x, const float* y, size_t count);

// In place over n values: exp(x − max) / Σ.
void softmax(float* x, int n);

}  // namespace tramontane::cpu
