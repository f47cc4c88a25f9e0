// ARM64 Advanced SIMD kernels for matmul_fast.h: the 16 lanes of one dot product are
// four float32x4 registers (lanes 0-3, 4-7, 8-11, 12-15), fused multiply-adds, so the
// results are those of the x86 kernels.
#include "matmul_fast.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>

namespace tramontane::cpu {

namespace {

// Weights i .. i+3 of a row, widened to fp32.
template <StoredType D>
inline float32x4_t load_w4(const void* row, int i) {
  if constexpr (D == StoredType::F32) {
    return vld1q_f32(static_cast<const float*>(row) + i);
  } else {
    const uint16x4_t h = vld1_u16(static_cast<const uint16_t*>(row) + i);
    if constexpr (D == StoredType::F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
  }
}

// The lane tree of one dot product held as four registers of 4 lanes.
inline float reduce(const float32x4_t* a) {
  const float32x4_t b0 = vaddq_f32(a[0], a[2]), b1 = vaddq_f32(a[1], a[3]);  // k + (k+8)
  const float32x4_t c = vaddq_f32(b0, b1);                                   // k + (k+4)
  const float32x2_t d = vadd_f32(vget_low_f32(c), vget_high_f32(c));         // k + (k+2)
  return vget_lane_f32(d, 0) + vget_lane_f32(d, 1);                          // k + (k+1)
}

template <StoredType D, int R, int T>
void block(const MatmulJob& j, int64_t r0, int t0) {
  const int cols = j.cols;
  const size_t row_bytes = size_t(cols) * block_bytes(D);
  const uint8_t* w = static_cast<const uint8_t*>(j.w) + size_t(r0) * row_bytes;
  const float* x = j.x + size_t(t0) * size_t(cols);
  float32x4_t acc[R * T][4];
  for (int a = 0; a < R * T; ++a)
    for (int q = 0; q < 4; ++q) acc[a][q] = vdupq_n_f32(0.f);
  const float* xs[T];
  const void* ws[R];
  for (int t = 0; t < T; ++t) xs[t] = x + size_t(t) * cols;
  for (int r = 0; r < R; ++r) ws[r] = w + size_t(r) * row_bytes;
  auto step = [&](int i) {
    for (int q = 0; q < 4; ++q) {
      float32x4_t xv[T];
      for (int t = 0; t < T; ++t) xv[t] = vld1q_f32(xs[t] + i + 4 * q);
      for (int r = 0; r < R; ++r) {
        const float32x4_t wv = load_w4<D>(ws[r], i + 4 * q);
        for (int t = 0; t < T; ++t) acc[r * T + t][q] = vfmaq_f32(acc[r * T + t][q], wv, xv[t]);
      }
    }
  };
  int i = 0;
  for (; i + 16 <= cols; i += 16) step(i);
  if (i < cols) {  // the last partial group, copied zero-padded
    const int rest = cols - i;
    float xpad[T][16] = {};
    alignas(16) uint8_t wpad[R][64] = {};
    for (int t = 0; t < T; ++t) {
      std::memcpy(xpad[t], xs[t] + i, size_t(rest) * sizeof(float));
      xs[t] = xpad[t];
    }
    for (int r = 0; r < R; ++r) {
      std::memcpy(wpad[r], static_cast<const uint8_t*>(ws[r]) + size_t(i) * block_bytes(D),
                  size_t(rest) * block_bytes(D));
      ws[r] = wpad[r];
    }
    step(0);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      j.out[size_t(t0 + t) * j.out_stride + size_t(r0 + r)] = reduce(acc[r * T + t]);
}

// Decode: 4 rows at a time (16 accumulators of the 32 registers). Prefill: tiles of
// kTile rows, 2 rows × 2 tokens per block.
template <StoredType D>
void rows(const MatmulJob& j, int64_t r0, int64_t r1) {
  if (j.n == 1) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) block<D, 4, 1>(j, r, 0);
    for (; r < r1; ++r) block<D, 1, 1>(j, r, 0);
    return;
  }
  constexpr int64_t kTile = 64;
  for (int64_t tile = r0; tile < r1; tile += kTile) {
    const int64_t tile_end = tile + kTile < r1 ? tile + kTile : r1;
    int t = 0;
    for (; t + 2 <= j.n; t += 2) {
      int64_t r = tile;
      for (; r + 2 <= tile_end; r += 2) block<D, 2, 2>(j, r, t);
      for (; r < tile_end; ++r) block<D, 1, 2>(j, r, t);
    }
    if (t < j.n) {
      int64_t r = tile;
      for (; r + 4 <= tile_end; r += 4) block<D, 4, 1>(j, r, t);
      for (; r < tile_end; ++r) block<D, 1, 1>(j, r, t);
    }
  }
}

}  // namespace

void rows_neon(const MatmulJob& job, int64_t r0, int64_t r1) {
  switch (job.type) {
    case StoredType::F32: rows<StoredType::F32>(job, r0, r1); break;
    case StoredType::BF16: rows<StoredType::BF16>(job, r0, r1); break;
    case StoredType::F16: rows<StoredType::F16>(job, r0, r1); break;
    default: break;  // block types never come here: matmul_with sends them to quant_matmul
  }
}

}  // namespace tramontane::cpu

#endif
