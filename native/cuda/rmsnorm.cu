// RMSNorm of fp32 rows into f16 (the input of the next matrix product), computed in
// fp32 as HF does. One block per row. Used on the prefill path; decode fuses the norm
// into gemv_qkv / gemv_swiglu / gemv_logits.
#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void rmsnorm_kernel(f16* __restrict__ out, const float* __restrict__ x,
                               const float* __restrict__ w, int dim, float eps) {
  __shared__ float scratch[32];
  pdl_enter();
  const float* xr = x + size_t(blockIdx.x) * dim;
  f16* orow = out + size_t(blockIdx.x) * dim;
  float ss = 0.f;
  for (int k = threadIdx.x * 4; k < dim; k += blockDim.x * 4) {
    const float4 v = *reinterpret_cast<const float4*>(xr + k);
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / float(dim) + eps);
  for (int k = threadIdx.x * 4; k < dim; k += blockDim.x * 4) {
    const float4 v = *reinterpret_cast<const float4*>(xr + k);
    const float4 wv = *reinterpret_cast<const float4*>(w + k);
    uint2 o;
    o.x = pack_f16x2(v.x * inv * wv.x, v.y * inv * wv.y);
    o.y = pack_f16x2(v.z * inv * wv.z, v.w * inv * wv.w);
    *reinterpret_cast<uint2*>(orow + k) = o;
  }
}

}  // namespace

void rmsnorm(const Launch& l, f16* out, const float* x, const float* w, int n, int dim,
             float eps) {
  if (dim % 4 != 0) throw Error("rmsnorm: dim must be a multiple of 4");
  if (n <= 0) return;
  launch(l, rmsnorm_kernel, dim3(n), dim3(256), 0, out, x, w, dim, eps);
}

}  // namespace tramontane::cuda
