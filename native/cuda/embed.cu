// Embedding lookup: x[t] = fp32(table[tokens[t]]). One block per token.
#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void embed_kernel(float* __restrict__ x, const f16* __restrict__ table, int dim,
                             const int* __restrict__ tokens) {
  pdl_enter();
  const int t = blockIdx.x;
  const f16* row = table + size_t(tokens[t]) * dim;
  float* out = x + size_t(t) * dim;
  for (int k = threadIdx.x * 8; k < dim; k += blockDim.x * 8) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(row + k));
    float f[8];
    unpack8(v, f);
    *reinterpret_cast<float4*>(out + k) = make_float4(f[0], f[1], f[2], f[3]);
    *reinterpret_cast<float4*>(out + k + 4) = make_float4(f[4], f[5], f[6], f[7]);
  }
}

}  // namespace

void embed(const Launch& l, float* x, const f16* table, int dim, const int* tokens, int n) {
  if (dim % 8 != 0) throw Error("embed: dim must be a multiple of 8");
  if (n <= 0) return;
  launch(l, embed_kernel, dim3(n), dim3(256), 0, x, table, dim, tokens);
}

}  // namespace tramontane::cuda
