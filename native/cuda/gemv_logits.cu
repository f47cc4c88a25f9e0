// Final RMSNorm → lm_head: logits of up to 8 tokens in one pass over the output matrix.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {

void gemv_logits(const Launch& l, const GemvConfig& c, const DeviceMatrix& w, const NormedInput& x,
                 int n, int dim, int vocab, float* logits) {
  gemv::RowsEpilogue epi{logits, vocab, 0, vocab, ProductOut::F32};
  gemv::launch_normed(l, c, w, dim, gemv_rows_tiles(vocab), n, x, epi);
}

}  // namespace tramontane::cuda
