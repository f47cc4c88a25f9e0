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

// One block of 1024 threads; every thread issues all of its (up to 8) 16-byte loads
// before comparing, so the scan costs about one memory latency.
__global__ void argmax_kernel(const float* __restrict__ logits, int vocab, int* token_out,
                              int* advance_pos, int advance_by) {
  __shared__ float sv[32];
  __shared__ int si[32];
  pdl_enter();
  float v = -FLT_MAX;
  int idx = 0x7fffffff;
  const int n4 = vocab / 4;
  const float4* l4 = reinterpret_cast<const float4*>(logits);
  for (int base = 0; base < n4; base += 8 * blockDim.x) {
    float4 f[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int i = base + u * blockDim.x + threadIdx.x;
      f[u] = i < n4 ? l4[i] : make_float4(-FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX);
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int i = 4 * (base + u * blockDim.x + threadIdx.x);
      better(v, idx, f[u].x, i);
      better(v, idx, f[u].y, i + 1);
      better(v, idx, f[u].z, i + 2);
      better(v, idx, f[u].w, i + 3);
    }
  }
  for (int i = 4 * n4 + threadIdx.x; i < vocab; i += blockDim.x) better(v, idx, logits[i], i);
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
  if (reinterpret_cast<uintptr_t>(logits) % 16 != 0) throw Error("argmax: logits must be 16-byte aligned");
  launch(l, argmax_kernel, dim3(1), dim3(1024), 0, logits, vocab, token_out, advance_pos,
         advance_by);
}

}  // namespace tramontane::cuda
