// The prefill path's matrix products for chunks of up to 64 tokens: the gemv kernel with
// one 8-token product per weight fragment and token tile, so each weight is read once
// from its stored format, where cuBLASLt would need f16 rows (an expansion of every
// quantized matrix per chunk) and reaches the bandwidth only for larger chunks.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {

void gemv_chunk(const Launch& l, int grid, const DeviceMatrix& w, const f16* x, int n, void* y,
                int ld, int row0, ProductOut out) {
  const gemv::RowsEpilogue epi{y, ld, row0, w.rows, out};
  visit_rows(w, [&](const auto& rows) {
    gemv::launch_chunk_stored(l, grid, rows, w.cols, gemv_rows_tiles(w.rows), n, gemv::VecInput{x},
                              epi);
  });
}

void gemv_chunk(const Launch& l, int grid, const RowParts& w, const f16* x, int n, void* y, int ld,
                ProductOut out) {
  for (int p = 0; p < w.count; ++p) gemv_chunk(l, grid, w.part[p], x, n, y, ld, w.first_row[p], out);
}

}  // namespace tramontane::cuda
