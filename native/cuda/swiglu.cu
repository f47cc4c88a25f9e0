// h = silu(gate) ⊙ up over the [n][gate | up] output of the fused gate/up product
// (prefill path; decode fuses this into gemv_swiglu). 8 elements per thread.
#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void swiglu_kernel(const f16* __restrict__ gu, int hidden, f16* __restrict__ h) {
  pdl_enter();
  const int tok = blockIdx.y;
  const int k = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
  if (k >= hidden) return;
  const f16* row = gu + size_t(tok) * 2 * hidden;
  const uint4 g = *reinterpret_cast<const uint4*>(row + k);
  const uint4 u = *reinterpret_cast<const uint4*>(row + hidden + k);
  float gf[8], uf[8];
  unpack8(g, gf);
  unpack8(u, uf);
  uint4 o;
  o.x = pack_f16x2_sat(silu(gf[0]) * uf[0], silu(gf[1]) * uf[1]);
  o.y = pack_f16x2_sat(silu(gf[2]) * uf[2], silu(gf[3]) * uf[3]);
  o.z = pack_f16x2_sat(silu(gf[4]) * uf[4], silu(gf[5]) * uf[5]);
  o.w = pack_f16x2_sat(silu(gf[6]) * uf[6], silu(gf[7]) * uf[7]);
  *reinterpret_cast<uint4*>(h + size_t(tok) * hidden + k) = o;
}

}  // namespace

void swiglu(const Launch& l, const f16* gu, int n, int hidden, f16* h) {
  if (hidden % 8 != 0) throw Error("swiglu: hidden must be a multiple of 8");
  if (n <= 0) return;
  launch(l, swiglu_kernel, dim3(ceil_div(hidden / 8, 256), n), dim3(256), 0, gu, hidden, h);
}

}  // namespace tramontane::cuda
