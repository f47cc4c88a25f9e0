// Embedding lookup: x[t] = fp32(table[tokens[t]]), the table in any device format. One
// block per token.
#include "ops.h"
#include "weight_formats.cuh"

namespace tramontane::cuda {
namespace {

template <class W>
__global__ void embed_kernel(float* __restrict__ x, W table, int dim,
                             const int* __restrict__ tokens) {
  pdl_enter();
  const int t = blockIdx.x;
  const int r = tokens[t];
  float* out = x + size_t(t) * dim;
  for (int run = threadIdx.x; run < dim / 8; run += blockDim.x) {
    float f[8];
    unpack8(read_run(table, r, run), f);
    *reinterpret_cast<float4*>(out + 8 * run) = make_float4(f[0], f[1], f[2], f[3]);
    *reinterpret_cast<float4*>(out + 8 * run + 4) = make_float4(f[4], f[5], f[6], f[7]);
  }
}

}  // namespace

void embed(const Launch& l, float* x, const DeviceMatrix& table, const int* tokens, int n) {
  if (table.cols % 8 != 0) throw Error("embed: dim must be a multiple of 8");
  if (n <= 0) return;
  visit_rows(table, [&](const auto& w) {
    launch(l, embed_kernel<std::decay_t<decltype(w)>>, dim3(n), dim3(256), 0, x, w, table.cols,
           tokens);
  });
}

}  // namespace tramontane::cuda
