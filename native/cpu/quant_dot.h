// Dot products of quantized weight rows with activations quantized to 8 bits, on the
// blocks themselves (nothing is dequantized to fp32).
//
// The activations of one token are quantized once per matrix product, symmetric, to
// int8 with one fp32 scale per block: per 32 values (Q8Block) for the 32-value weight
// formats, per 256 (Q8KBlock, with the sums of each 16 values) for the K formats, as
// llama.cpp does. Inside a block (a super-block for the K formats) every product and
// sum is an exact integer; each block then contributes one fp32 term, e.g. for Q8_0
// (d_w · d_x) · Σ q_w q_x, and the terms are added in ascending block order, one
// rounding each, in a single fp32 accumulator. That order is the same for the scalar and
// the AVX2 kernels (no fused multiply-add in either), so they give bit-identical results,
// and a row's result does not depend on the thread split or on the other tokens of the
// chunk.
#pragma once

#include <cstdint>
#include <string>

#include "tensor.h"

namespace tramontane::cpu {

struct Q8Block {
  float d;      // x ≈ d · q
  int32_t sum;  // Σ q (for the formats with an offset or a min)
  int8_t q[32];
};

struct Q8KBlock {
  float d;
  int16_t sums[16];  // Σ q over each 16 values
  int8_t q[256];
};

// Which dot-product kernels the fast path uses.
enum class QuantKernel {
  Reference,  // no fast path: rows dequantized to fp32 (matmul's widening path)
  Scalar,     // the 8-bit activation kernels in plain C++
  Avx2,       // the same in AVX2 (x86-64 with AVX2, chosen at run time)
};
const char* quant_kernel_name(QuantKernel k);
// The kernel in use: TRAMONTANE_QUANT_KERNEL=reference|scalar|avx2 when set (an
// unavailable choice falls back to scalar), else AVX2 where the CPU has it, else scalar.
QuantKernel quant_kernel();
void set_quant_kernel(QuantKernel k);
bool avx2_available();

// Bytes of one token's quantized activations for weights of this type and row length.
size_t q8_bytes(StoredType weights, int64_t cols);
// x[cols] → blocks for weights of this type (Q8Block or Q8KBlock).
void quantize_activations(StoredType weights, const float* x, int64_t cols, void* out);

// w_row (cols values of type `weights`) · the quantized activations.
float quant_dot(QuantKernel kernel, StoredType weights, const void* w_row, const void* xq, int64_t cols);

// The kernels (quant_dot_scalar.cpp, quant_dot_avx2.cpp); blocks = cols / block values.
float dot_scalar(StoredType weights, const uint8_t* w, const void* xq, int64_t blocks);
// out[t] = w · token t's activations (at xq + t · stride bytes) for t < tokens.
void dot_avx2(StoredType weights, const uint8_t* w, const void* xq, size_t stride, int tokens, int64_t blocks,
              float* out);

}  // namespace tramontane::cpu
