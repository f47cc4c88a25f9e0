// x += W v: the attention output projection and the MLP down projection, with the
// residual add in the epilogue; for decode and appends of up to 8 tokens.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

struct ResidualEpilogue {
  float* x;  // [n][rows]
  int rows;

  __device__ int row(int tile, int g, int half) const {
    return min(tile * 16 + half * 8 + g, rows - 1);
  }
  __device__ void store(int tile, int g, int t, const float* acc, int n) const {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = tile * 16 + half * 8 + g;
      if (r >= rows) continue;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int tok = 2 * t + j;
        if (tok < n) x[size_t(tok) * rows + r] += acc[2 * half + j];
      }
    }
  }
};

}  // namespace

int gemv_rows_tiles(int out_dim) { return (out_dim + 15) / 16; }

void gemv_residual(const Launch& l, const GemvConfig& c, const f16* w, const f16* v, int n,
                   int in_dim, int out_dim, float* x) {
  gemv::VecInput in{v};
  ResidualEpilogue epi{x, out_dim};
  gemv::launch_gemv(l, c, w, in_dim, gemv_rows_tiles(out_dim), n, in, epi);
}

}  // namespace tramontane::cuda
