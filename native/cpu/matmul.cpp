// y = W x for a chunk of tokens, with W in fp32, bf16 or f16: the entry point picks
// the fast kernels of matmul_fast.h where the CPU has them; the reference below stays
// the oracle they are tested against.
//
// Reference: work is split over output rows. A thread widens a tile of kMatmulTile rows to fp32
// once, then sweeps the chunk's tokens over it, 4 rows × 2 tokens at a time: each
// weight load serves 2 tokens and each activation load 4 rows (8 accumulators fit the
// 16 SSE registers with the loads; 4 × 3 spills and runs slower). A row's dot product
// with a token is computed the same way whatever the blocking (see simd.h), so a token
// gets bit-identical results alone or inside a chunk.
#include <algorithm>

#include "convert.h"
#include "matmul_fast.h"
#include "ops.h"
#include "quant_blocks.h"
#include "quant_matmul.h"
#include "simd.h"

namespace tramontane::cpu {

namespace {

// out[t · out_stride + r] = w[r] · x[t] for r < R, t < T.
template <int R, int T>
inline void block(const float* const* w, const float* x, int cols, float* out, size_t out_stride) {
  F4 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = f4_zero();
  int i = 0;
  for (; i + 4 <= cols; i += 4) {
    F4 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = f4_load(x + size_t(t) * cols + i);
    for (int r = 0; r < R; ++r) {
      const F4 wv = f4_load(w[r] + i);
      for (int t = 0; t < T; ++t) acc[r][t] = f4_mul_add(acc[r][t], wv, xv[t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float tail = 0;
      for (int j = i; j < cols; ++j) tail += w[r][j] * x[size_t(t) * cols + j];
      out[size_t(t) * out_stride + r] = f4_sum(acc[r][t]) + tail;
    }
  }
}

template <int R>
inline void block_rows(int tokens, const float* const* w, const float* x, int cols, float* out,
                       size_t out_stride) {
  switch (tokens) {
    case 1: block<R, 1>(w, x, cols, out, out_stride); break;
    default: block<R, 2>(w, x, cols, out, out_stride); break;
  }
}

void widen_row(float* dst, const void* src, StoredType type, int cols) {
  if (type == StoredType::BF16) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    int i = 0;
    for (; i + 8 <= cols; i += 8) bf16x8_to_f32(s + i, dst + i);
    for (; i < cols; ++i) dst[i] = bf16_to_f32(s[i]);
  } else {
    dequantize_row(type, src, dst, cols);  // the float types, or a quantized row exactly
  }
}

}  // namespace

#if !defined(__SSE2__)
void bf16x8_to_f32(const uint16_t* src, float* dst) {
  for (int k = 0; k < 8; ++k) dst[k] = bf16_to_f32(src[k]);
}
#endif

float dot(const float* a, const float* b, int n) {
  float out;
  block<1, 1>(&a, b, n, &out, 0);
  return out;
}

void MatmulScratch::reserve(int workers, int64_t max_cols) {
  per_worker.resize(size_t(workers));
  for (auto& buf : per_worker) {
    if (buf.size() < size_t(kMatmulTile * max_cols)) buf.resize(size_t(kMatmulTile * max_cols));
  }
}

void matmul_reference(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                      MatmulScratch& scratch) {
  const int64_t rows = w.rows;
  const int cols = int(w.cols);
  const size_t row_bytes = w.row_bytes();
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t blocks = (rows + 3) / 4;  // threads get whole blocks of 4 rows
  pool.parallel_for(blocks, [&](int64_t b0, int64_t b1, int worker) {
    float* widened = scratch.per_worker[size_t(worker)].data();
    const int64_t end = std::min(rows, b1 * 4);
    for (int64_t r0 = b0 * 4; r0 < end; r0 += kMatmulTile) {
      const int nr = int(std::min<int64_t>(kMatmulTile, end - r0));
      // The tile as fp32 rows: in place when already fp32, else widened once here and
      // reused for every token of the chunk.
      const float* row[kMatmulTile];
      for (int j = 0; j < nr; ++j) {
        const uint8_t* src = base + size_t(r0 + j) * row_bytes;
        if (w.type == StoredType::F32) {
          row[j] = reinterpret_cast<const float*>(src);
        } else {
          float* dst = widened + size_t(j) * size_t(cols);
          widen_row(dst, src, w.type, cols);
          row[j] = dst;
        }
      }
      for (int t = 0; t < n; t += 2) {
        const int tn = std::min(2, n - t);
        const float* xt = x + size_t(t) * size_t(cols);
        float* ot = out + size_t(t) * size_t(rows) + size_t(r0);
        for (int j = 0; j < nr; j += 4) {
          switch (std::min(4, nr - j)) {
            case 1: block_rows<1>(tn, row + j, xt, cols, ot + j, size_t(rows)); break;
            case 2: block_rows<2>(tn, row + j, xt, cols, ot + j, size_t(rows)); break;
            case 3: block_rows<3>(tn, row + j, xt, cols, ot + j, size_t(rows)); break;
            default: block_rows<4>(tn, row + j, xt, cols, ot + j, size_t(rows)); break;
          }
        }
      }
    }
  });
}

static RowsKernel fast_kernel(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case Isa::Avx2: return rows_avx2;
    case Isa::Avx512: return rows_avx512;
#endif
#if defined(__aarch64__)
    case Isa::Neon: return rows_neon;
#endif
    default: return nullptr;
  }
}

void matmul_with(Isa isa, float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                 MatmulScratch& scratch) {
  if (is_quantized(w.type) && quant_kernel() != QuantKernel::Reference) {
    // Quantized blocks: 8-bit activation dot products on the blocks (quant_matmul.cpp).
    quant_matmul(out, x, n, w, pool, scratch.activations, quant_kernel());
    return;
  }
  const RowsKernel kernel = fast_kernel(isa);
  if (!kernel || is_quantized(w.type)) {  // the reference dequantizes rows exactly
    matmul_reference(out, x, n, w, pool, scratch);
    return;
  }
  const MatmulJob job{out, size_t(w.rows), x, n, w.data, w.type, w.rows, int(w.cols)};
  // Threads get whole groups of rows; every row's result is the same whoever computes it.
  const int64_t groups = (w.rows + kFastRowGroup - 1) / kFastRowGroup;
  pool.parallel_for(groups, [&](int64_t g0, int64_t g1, int) {
    kernel(job, g0 * kFastRowGroup, std::min(w.rows, g1 * kFastRowGroup));
  });
}

void matmul(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
            MatmulScratch& scratch) {
  static const Isa isa = active_isa();
  matmul_with(isa, out, x, n, w, pool, scratch);
}

}  // namespace tramontane::cpu
