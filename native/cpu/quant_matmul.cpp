#include "quant_matmul.h"

#include <algorithm>

namespace tramontane::cpu {

void quant_matmul(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                  std::vector<uint8_t>& activations, QuantKernel kernel) {
  const int64_t rows = w.rows, cols = w.cols;
  const size_t x_bytes = q8_bytes(w.type, cols);
  if (activations.size() < x_bytes * size_t(n)) activations.resize(x_bytes * size_t(n));
  uint8_t* xq = activations.data();
  const bool avx2 = kernel == QuantKernel::Avx2 || kernel == QuantKernel::Vnni;
  pool.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      uint8_t* xt = xq + size_t(t) * x_bytes;
      if (avx2) {
        quantize_activations_avx2(w.type, x + t * cols, cols, xt);
      } else {
        quantize_activations(w.type, x + t * cols, cols, xt);
      }
    }
  });

  const size_t w_bytes = row_bytes(w.type, cols);
  const int64_t blocks = cols / block_size(w.type);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  // A tile of rows stays in cache while every token sweeps over it, 4 tokens at a time.
  constexpr int64_t kTile = 16;
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t tile = r0; tile < r1; tile += kTile) {
      const int64_t end = std::min(r1, tile + kTile);
      dot_tile(kernel, w.type, base + size_t(tile) * w_bytes, w_bytes, int(end - tile), xq, x_bytes, n, blocks,
               out + tile, size_t(rows));
    }
  });
}

}  // namespace tramontane::cpu
