#include "ops.h"

#include <algorithm>
#include <cmath>

#include "convert.h"
#include "quant_blocks.h"

namespace tramontane::cpu {

void embed(float* out, const Matrix& table, const int* tokens, int n) {
  const size_t row_bytes = table.row_bytes();
  for (int t = 0; t < n; ++t) {
    const uint8_t* src = static_cast<const uint8_t*>(table.data) + size_t(tokens[t]) * row_bytes;
    dequantize_row(table.type, src, out + size_t(t) * size_t(table.cols), table.cols);
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
