// Weights to the f16 the kernels compute from, on the GPU: a model's tensors arrive as
// bf16, f16 or f32 (copied raw to a device staging buffer) and are rounded to nearest
// even. bf16 values between 6.1e-5 and 65504 in magnitude are exact in f16 (8 significant
// bits into 11); smaller ones become f16 subnormals (absolute precision 6e-8); larger
// finite ones would become infinities and are counted so the caller can refuse them.
#include <cuda_bf16.h>

#include <algorithm>

#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void convert_kernel(const void* __restrict__ src, int format, size_t n,
                               f16* __restrict__ dst, unsigned* overflow) {
  unsigned out_of_range = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    float x;
    if (format == int(StoredType::F16)) {
      dst[i] = static_cast<const f16*>(src)[i];
      continue;
    }
    if (format == int(StoredType::BF16)) {
      x = __bfloat162float(static_cast<const __nv_bfloat16*>(src)[i]);
    } else {
      x = static_cast<const float*>(src)[i];
    }
    out_of_range += isfinite(x) && fabsf(x) > 65504.f;
    dst[i] = __float2half_rn(x);
  }
  if (out_of_range) atomicAdd(overflow, out_of_range);
}

}  // namespace

void convert_to_f16(const Launch& l, const void* src, StoredType type, size_t n, f16* dst,
                    unsigned* overflow) {
  if (n == 0) return;
  const size_t blocks = std::min<size_t>((n + 255) / 256, 132 * 16);
  launch(l, convert_kernel, dim3(unsigned(blocks)), dim3(256), 0, src, int(type), n, dst,
         overflow);
}

}  // namespace tramontane::cuda
