// RMSNorm → gate and up projections → SwiGLU, one pass over [Wg; Wu]; for decode and
// appends of up to 8 tokens. Fragment row g is gate row i, row g+8 is up row i.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

struct SwigluEpilogue {
  f16* h;  // [n][hidden]
  int hidden;

  __device__ int row(int tile, int g, int half) const {
    const int i = min(tile * 8 + g, hidden - 1);
    return half * hidden + i;
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
    const int i = tile * 8 + g;
    if (i >= hidden) return;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int tok = tok0 + 2 * t + j;
      if (tok < n) h[size_t(tok) * hidden + i] = to_f16_sat(silu(acc[j]) * acc[2 + j]);
    }
  }
};

}  // namespace

int gemv_swiglu_tiles(int hidden) { return (hidden + 7) / 8; }

void gemv_swiglu(const Launch& l, const GemvConfig& c, const DeviceMatrix& wgu, const NormedInput& x,
                 int n, int dim, int hidden, f16* h) {
  SwigluEpilogue epi{h, hidden};
  gemv::launch_normed(l, c, wgu, dim, gemv_swiglu_tiles(hidden), n, x, epi);
}

}  // namespace tramontane::cuda
