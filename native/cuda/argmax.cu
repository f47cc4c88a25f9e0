// Greedy sampling on the device: the index of the largest logit (the lowest index on
// ties), and optionally the position advanced by one step, so a captured decode step
// can be replayed token after token without the host.
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

__global__ void argmax_kernel(const float* __restrict__ logits, int vocab, int* token_out,
                              int* advance_pos, int advance_by) {
  __shared__ float sv[32];
  __shared__ int si[32];
  pdl_enter();
  float v = -FLT_MAX;
  int idx = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) better(v, idx, logits[i], i);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    better(v, idx, ov, oi);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = idx;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x >> 5); ++w) better(v, idx, sv[w], si[w]);
    *token_out = idx;
    if (advance_pos) *advance_pos += advance_by;
  }
}

}  // namespace

void argmax(const Launch& l, const float* logits, int vocab, int* token_out, int* advance_pos,
            int advance_by) {
  launch(l, argmax_kernel, dim3(1), dim3(1024), 0, logits, vocab, token_out, advance_pos,
         advance_by);
}

}  // namespace tramontane::cuda
