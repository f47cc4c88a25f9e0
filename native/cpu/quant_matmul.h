// y = W x for a chunk of tokens with W in a quantized block format, through the 8-bit
// activation kernels of quant_dot.h (the reference path widens rows in matmul.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "quant_dot.h"
#include "tensor.h"
#include "thread_pool.h"

namespace tramontane::cpu {

// out[t][r] = W[r] · x[t] for t < n; x: [n][W.cols], out: [n][W.rows]. The tokens'
// activations are quantized once into `activations` (grown as needed), then the dot
// products are computed in tiles of rows × tokens (quant_dot.h); threads split the rows
// (thread_pool.h), so the results do not depend on the thread count.
void quant_matmul(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                  std::vector<uint8_t>& activations, QuantKernel kernel);

}  // namespace tramontane::cpu
