// Final RMSNorm → lm_head: logits of up to 8 tokens in one pass over the output matrix.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

struct LogitsEpilogue {
  float* logits;  // [n][rows]
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
        if (tok < n) logits[size_t(tok) * rows + r] = acc[2 * half + j];
      }
    }
  }
};

}  // namespace

void gemv_logits(const Launch& l, const GemvConfig& c, const f16* w, const NormedInput& x,
                 int n, int dim, int vocab, float* logits) {
  LogitsEpilogue epi{logits, vocab};
  gemv::launch_normed(l, c, w, dim, gemv_rows_tiles(vocab), n, x, epi);
}

}  // namespace tramontane::cuda
