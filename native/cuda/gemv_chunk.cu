// The prefill path's matrix products for chunks of up to 64 tokens: the gemv kernel with
// one 8-token product per weight fragment and token tile, so each weight is read once
// from its stored format, where cuBLASLt would need f16 rows (an expansion of every
// quantized matrix per chunk) and reaches the bandwidth only for larger chunks.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

// Plain rows: tile i covers rows 16i .. 16i + 15 of the matrix, which land in columns
// row0 + r of y [n][ld].
struct ChunkEpilogue {
  void* y;
  int ld, row0, rows;
  ChunkOut out;

  __device__ int row(int tile, int g, int half) const {
    return min(tile * 16 + half * 8 + g, rows - 1);
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = tile * 16 + half * 8 + g;
      if (r >= rows) continue;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int tok = tok0 + 2 * t + j;
        if (tok >= n) continue;
        const size_t i = size_t(tok) * ld + row0 + r;
        const float v = acc[2 * half + j];
        switch (out) {
          case ChunkOut::F32: static_cast<float*>(y)[i] = v; break;
          case ChunkOut::F32Add: static_cast<float*>(y)[i] += v; break;
          case ChunkOut::F16: static_cast<f16*>(y)[i] = __float2half_rn(v); break;
        }
      }
    }
  }
};

}  // namespace

void gemv_chunk(const Launch& l, int grid, const DeviceMatrix& w, const f16* x, int n, void* y,
                int ld, int row0, ChunkOut out) {
  const ChunkEpilogue epi{y, ld, row0, w.rows, out};
  visit_rows(w, [&](const auto& rows) {
    gemv::launch_chunk_stored(l, grid, rows, w.cols, gemv_rows_tiles(w.rows), n, gemv::VecInput{x},
                              epi);
  });
}

void gemv_chunk(const Launch& l, int grid, const RowParts& w, const f16* x, int n, void* y, int ld,
                ChunkOut out) {
  for (int p = 0; p < w.count; ++p) gemv_chunk(l, grid, w.part[p], x, n, y, ld, w.first_row[p], out);
}

}  // namespace tramontane::cuda
