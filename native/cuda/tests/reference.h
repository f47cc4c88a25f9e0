// Plain CPU references for the CUDA kernel checks, one operator at a time, over the
// kernels' own layouts (fused q/k/v rows, [kv_head][slot][head_dim] caches): fp32/fp64
// loops over f16 weights, written for clarity (threads only where the 7B widths would
// otherwise take minutes). Whole forward passes are checked against the engine's CPU
// forward pass (cpu/forward.cpp) instead.
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "tramontane/engine.h"

namespace tramontane::cuda::ref {

inline uint16_t to_f16(float f) {  // round to nearest even (cuda_fp16's host conversion)
  return __half_raw(__float2half_rn(f)).x;
}
inline float from_f16(uint16_t b) {
  __half_raw r;
  r.x = b;
  return __half2float(__half(r));
}

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * float(double(gen() >> 11) * (1.0 / 9007199254740992.0));
  }
  std::vector<float> floats(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
  std::vector<uint16_t> f16s(size_t n, float lo, float hi) {
    std::vector<uint16_t> v(n);
    for (auto& x : v) x = to_f16(uniform(lo, hi));
    return v;
  }
};

inline void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(n, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (int64_t w = 0; w < workers; ++w) {
    const int64_t b = n * w / workers, e = n * (w + 1) / workers;
    threads.emplace_back([&body, b, e] { body(b, e); });
  }
  for (auto& t : threads) t.join();
}

// out[t][r] = Σ_k w[r][k] · x[t][k]; w f16 [rows][cols], x fp32 [n][cols]. fp64 sums.
inline void matmul(float* out, const float* x, int n, const uint16_t* w, int64_t rows, int cols) {
  parallel_for(rows, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      for (int k = 0; k < cols; ++k) row[size_t(k)] = from_f16(w[size_t(r) * cols + k]);
      for (int t = 0; t < n; ++t) {
        const float* xt = x + size_t(t) * cols;
        double s = 0;
        for (int k = 0; k < cols; ++k) s += double(row[size_t(k)]) * double(xt[k]);
        out[size_t(t) * rows + r] = float(s);
      }
    }
  });
}

inline void rmsnorm(float* out, const float* x, const float* w, int n, int dim, float eps) {
  for (int t = 0; t < n; ++t) {
    double ss = 0;
    for (int k = 0; k < dim; ++k) ss += double(x[size_t(t) * dim + k]) * x[size_t(t) * dim + k];
    const float inv = float(1.0 / std::sqrt(ss / dim + eps));
    for (int k = 0; k < dim; ++k) out[size_t(t) * dim + k] = w[k] * (x[size_t(t) * dim + k] * inv);
  }
}

inline float silu(float x) { return float(double(x) / (1.0 + std::exp(-double(x)))); }

// Rotates the pairs of one head in place at position pos (as the kernels: fp32 angle).
inline void rope_head(float* v, int head_dim, int pos, const float* inv_freq, bool interleaved) {
  for (int i = 0; i < head_dim / 2; ++i) {
    const int d0 = interleaved ? 2 * i : i, d1 = interleaved ? 2 * i + 1 : i + head_dim / 2;
    const float angle = float(pos) * inv_freq[i];
    const double c = std::cos(double(angle)), s = std::sin(double(angle));
    const double x0 = v[d0], x1 = v[d1];
    v[d0] = float(x0 * c - x1 * s);
    v[d1] = float(x1 * c + x0 * s);
  }
}

inline std::vector<float> inv_freq(int head_dim, float theta) {
  std::vector<float> f(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i)
    f[size_t(i)] = 1.f / std::pow(theta, float(2 * i) / float(head_dim));
  return f;
}

// Attention of one query over keys/values given by position. key(p)/value(p) return
// head_dim floats. Positions lo..hi inclusive.
inline void attend(float* out, const float* q, int head_dim, int64_t lo, int64_t hi,
                   const std::function<const float*(int64_t)>& key,
                   const std::function<const float*(int64_t)>& value) {
  std::vector<double> s(size_t(hi - lo + 1));
  double m = -1e300;
  for (int64_t p = lo; p <= hi; ++p) {
    const float* k = key(p);
    double d = 0;
    for (int e = 0; e < head_dim; ++e) d += double(q[e]) * k[e];
    d /= std::sqrt(double(head_dim));
    s[size_t(p - lo)] = d;
    m = std::max(m, d);
  }
  double l = 0;
  for (auto& v : s) {
    v = std::exp(v - m);
    l += v;
  }
  std::vector<double> o(size_t(head_dim), 0.0);
  for (int64_t p = lo; p <= hi; ++p) {
    const float* v = value(p);
    for (int e = 0; e < head_dim; ++e) o[size_t(e)] += s[size_t(p - lo)] * v[e];
  }
  for (int e = 0; e < head_dim; ++e) out[e] = float(o[size_t(e)] / l);
}

// ‖a − b‖ / ‖b‖ over the first n values; NaN anywhere gives +inf.
inline double rel_err(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace tramontane::cuda::ref
