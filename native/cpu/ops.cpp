#include "ops.h"

#include <algorithm>
#include <cmath>

#include "convert.h"

namespace tramontane::cpu {

// The 8 lanes map onto two SSE registers; the final reduction order is fixed.
static inline float reduce8(const float* acc) {
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return reduce8(acc) + tail;
}

// Four rows against one vector, sharing the loads of x. Per row, exactly the same
// arithmetic as dot(), so results do not depend on how rows are grouped.
static inline void dot4(const float* const* rows, const float* x, int n, float* out) {
  float acc[4][8] = {};
  const float* r0 = rows[0];
  const float* r1 = rows[1];
  const float* r2 = rows[2];
  const float* r3 = rows[3];
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) {
      float xv = x[i + k];
      acc[0][k] += r0[i + k] * xv;
      acc[1][k] += r1[i + k] * xv;
      acc[2][k] += r2[i + k] * xv;
      acc[3][k] += r3[i + k] * xv;
    }
  }
  float tail[4] = {0, 0, 0, 0};
  for (; i < n; ++i) {
    tail[0] += r0[i] * x[i];
    tail[1] += r1[i] * x[i];
    tail[2] += r2[i] * x[i];
    tail[3] += r3[i] * x[i];
  }
  for (int r = 0; r < 4; ++r) out[r] = reduce8(acc[r]) + tail[r];
}

void MatmulScratch::reserve(int workers, int64_t max_cols) {
  per_worker.resize(size_t(workers));
  for (auto& buf : per_worker) {
    if (buf.size() < size_t(kMatmulTile * max_cols)) buf.resize(size_t(kMatmulTile * max_cols));
  }
}

void matmul(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
            MatmulScratch& scratch) {
  const int64_t rows = w.rows;
  const int cols = int(w.cols);
  const size_t row_bytes = size_t(cols) * dtype_size(w.dtype);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  // Work is split in blocks of 4 rows so dot4 runs on whole blocks.
  const int64_t blocks = (rows + 3) / 4;
  pool.parallel_for(blocks, [&](int64_t b0, int64_t b1, int worker) {
    float* widened = scratch.per_worker[size_t(worker)].data();
    const int64_t end = std::min(rows, b1 * 4);
    for (int64_t r0 = b0 * 4; r0 < end; r0 += kMatmulTile) {
      const int nr = int(std::min<int64_t>(kMatmulTile, end - r0));
      // A tile of rows as fp32: read in place when already fp32, else widened once
      // and reused for all n tokens.
      const float* row[kMatmulTile];
      for (int j = 0; j < nr; ++j) {
        const uint8_t* src = base + size_t(r0 + j) * row_bytes;
        if (w.dtype == DType::F32) {
          row[j] = reinterpret_cast<const float*>(src);
        } else {
          float* dst = widened + size_t(j) * size_t(cols);
          to_f32(dst, src, w.dtype, size_t(cols));
          row[j] = dst;
        }
      }
      for (int t = 0; t < n; ++t) {
        const float* xt = x + size_t(t) * size_t(cols);
        float* ot = out + size_t(t) * size_t(rows) + size_t(r0);
        int j = 0;
        for (; j + 4 <= nr; j += 4) dot4(row + j, xt, cols, ot + j);
        for (; j < nr; ++j) ot[j] = dot(row[j], xt, cols);
      }
    }
  });
}

void embed(float* out, const Matrix& table, const int* tokens, int n) {
  const size_t row_bytes = size_t(table.cols) * dtype_size(table.dtype);
  for (int t = 0; t < n; ++t) {
    const uint8_t* src = static_cast<const uint8_t*>(table.data) + size_t(tokens[t]) * row_bytes;
    to_f32(out + size_t(t) * size_t(table.cols), src, table.dtype, size_t(table.cols));
  }
}

void rmsnorm(float* out, const float* x, const float* weight, int n, int dim, float eps) {
  for (int t = 0; t < n; ++t) {
    const float* xt = x + size_t(t) * size_t(dim);
    float* ot = out + size_t(t) * size_t(dim);
    // The mean of squares in double: cheap at this size and closer to the exact value
    // than any fp32 summation order.
    double sum = 0;
    for (int i = 0; i < dim; ++i) sum += double(xt[i]) * double(xt[i]);
    const float variance = float(sum / dim);
    const float inv = 1.f / std::sqrt(variance + eps);
    for (int i = 0; i < dim; ++i) ot[i] = weight[i] * (xt[i] * inv);
  }
}

void rope_tables(float* cos_out, float* sin_out, int64_t pos0, int n, int head_dim, float theta) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    // As HF, step by step in fp32: inv_freq = 1 / θ^(2i/d), angle = position · inv_freq.
    const float exponent = float(2 * i) / float(head_dim);
    const float inv_freq = 1.f / float(std::pow(double(theta), double(exponent)));
    for (int t = 0; t < n; ++t) {
      const float angle = float(pos0 + t) * inv_freq;
      cos_out[size_t(t) * half + i] = float(std::cos(double(angle)));
      sin_out[size_t(t) * half + i] = float(std::sin(double(angle)));
    }
  }
}

void rope(float* x, int n, int heads, int head_dim, const float* cos, const float* sin,
          RopeLayout layout) {
  const int half = head_dim / 2;
  for (int t = 0; t < n; ++t) {
    const float* c = cos + size_t(t) * half;
    const float* s = sin + size_t(t) * half;
    for (int h = 0; h < heads; ++h) {
      float* v = x + (size_t(t) * heads + h) * head_dim;
      if (layout == RopeLayout::RotateHalf) {
        for (int i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      } else {
        for (int i = 0; i < half; ++i) {
          const float a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * c[i] - b * s[i];
          v[2 * i + 1] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

void swiglu(float* gate, const float* up, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void add(float* x, const float* y, size_t count) {
  for (size_t i = 0; i < count; ++i) x[i] += y[i];
}

void softmax(float* x, int n) {
  float max = x[0];
  for (int i = 1; i < n; ++i) max = std::max(max, x[i]);
  float sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace tramontane::cpu
