// Dot products of quantized weight rows with activations quantized to 8 bits, on the
// blocks themselves (nothing is dequantized to fp32).
//
// The activations of one token are quantized once per matrix product, symmetric, to
// int8 with one fp32 scale per block: per 32 values (Q8Block) for the 32-value weight
// formats, per 256 (Q8KBlock, with the sums of each 16 values) for the K formats, as
// llama.cpp does. Every integer product and sum is exact; the fp32 order is fixed:
//
// - 32-value formats (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL): eight lanes. Lane k of
//   block b is the integer Σ w_i · q_i over values 4k .. 4k+3 (w_i the signed weight
//   level: q − 8 for Q4_0, q − 16 for Q5_0, q for Q4_1 / Q5_1, the level for IQ4_NL).
//   It becomes the term float(lane) · (d_w · d_x), added to fp32 accumulator k in
//   ascending block order. The formats with a min add (m · d_x) · float(Σ q_x) per
//   block, in block order, to one more accumulator. The result is
//   ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), plus the min accumulator.
//   This is the order of one 256-bit vector of partial sums, so a SIMD kernel needs no
//   horizontal sum per block.
// - K formats (256-value super-blocks): eight lanes too. Lane k of super-block b is
//   the integer Σ s_i · w_i · q_i over the values i with (i mod 32) / 4 = k (w_i the
//   stored value, for Q6_K before its −32 and for Q3_K before its −4 (high bit as 4), or
//   the IQ4 level; s_i its sub-block or group scale: sc for Q4_K / Q5_K / Q2_K, the int8
//   group scale for Q6_K, s6 − 32 for Q3_K, ls − 32 for IQ4_XS), and its correction c_k
//   is that of sub-block k (values 32k .. 32k+31): m_k · Σ q_x over it for Q4_K / Q5_K,
//   Σ m_g · Σ q_x over its two groups g for Q2_K, 32 · Σ sc_g · Σ q_x over them for Q6_K
//   (4 · for Q3_K), 0 for IQ4_XS. The lane's term is float(lane) · (d_x · d) − float(c_k) ·
//   (d_x · dmin) for Q4_K / Q5_K / Q2_K and float(lane − c_k) · (d_x · d) for the others,
//   added to fp32 accumulator k in ascending block order, and the accumulators are
//   added as above. Again the layout of a 256-bit vector of pair sums (values 32s + 4k
//   .. 32s + 4k + 3 of each 32-value slice land in lane k).
//
// The scalar, AVX2, AVX-512 VNNI and NEON kernels follow that order (no fused multiply-add in
// any), so they give bit-identical results, and a row's result does not depend on the
// thread split or on the other tokens of the chunk. Q2_K and Q3_K have no NEON kernel:
// that choice runs the scalar one for them.
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
  Vnni,       // AVX2 with the AVX-512 VNNI byte dot product (vpdpbusd) where the CPU has it
  Neon,       // ARM64 Advanced SIMD (every ARM64 CPU)
};
const char* quant_kernel_name(QuantKernel k);
// The kernel in use: TRAMONTANE_QUANT_KERNEL=reference|scalar|avx2|vnni|neon when set
// (an unavailable choice falls back to the best available below it), else the best the
// CPU has: VNNI, AVX2, scalar on x86-64; NEON on ARM64.
QuantKernel quant_kernel();
void set_quant_kernel(QuantKernel k);
bool avx2_available();
bool vnni_available();
bool neon_available();
// Whether this CPU runs k's kernels.
bool quant_kernel_available(QuantKernel k);

// Bytes of one token's quantized activations for weights of this type and row length.
size_t q8_bytes(StoredType weights, int64_t cols);
// x[cols] → blocks for weights of this type (Q8Block or Q8KBlock).
void quantize_activations(StoredType weights, const float* x, int64_t cols, void* out);
// The same bytes, 8 values per step (AVX2 and F16C; quant_dot_avx2.cpp).
void quantize_activations_avx2(StoredType weights, const float* x, int64_t cols, void* out);

// w_row (cols values of type `weights`) · the quantized activations.
float quant_dot(QuantKernel kernel, StoredType weights, const void* w_row, const void* xq, int64_t cols);

// A tile of rows × tokens with `kernel` (not Reference): out[t · out_stride + r] = row r
// (at w + r · w_stride) · token t's activations (at xq + t · x_stride) for r < rows,
// t < tokens. The SIMD kernels unpack each weight block once for several tokens.
void dot_tile(QuantKernel kernel, StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq,
              size_t x_stride, int tokens, int64_t blocks, float* out, size_t out_stride);

// The kernels (quant_dot_scalar.cpp, quant_dot_avx2.cpp, quant_dot_neon.cpp), called by
// the two above; blocks = cols / block values. `vnni`: the VNNI kernel.
float dot_scalar(StoredType weights, const uint8_t* w, const void* xq, int64_t blocks);
// The tile as one dot_scalar per row and token.
void dot_tile_scalar(StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq,
                     size_t x_stride, int tokens, int64_t blocks, float* out, size_t out_stride);
void dot_tile_avx2(StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride, bool vnni);
void dot_tile_neon(StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride);

}  // namespace tramontane::cpu
