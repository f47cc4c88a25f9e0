// x += W v: the attention output projection and the MLP down projection, with the
// residual add in the epilogue; for decode and appends of up to 8 tokens.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {

int gemv_rows_tiles(int out_dim) { return (out_dim + 15) / 16; }

void gemv_residual(const Launch& l, const GemvConfig& c, const DeviceMatrix& w, const f16* v, int n,
                   int in_dim, int out_dim, float* x) {
  gemv::VecInput in{v};
  gemv::RowsEpilogue epi{x, out_dim, 0, out_dim, ProductOut::F32Add};
  gemv::launch_gemv(l, c, w, in_dim, gemv_rows_tiles(out_dim), n, in, epi);
}

}  // namespace tramontane::cuda
