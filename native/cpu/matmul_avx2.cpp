// AVX2 kernels for matmul_fast.h: the 16 lanes of one dot product are two ymm
// registers (lanes 0-7 and 8-15), so the results are those of the AVX-512 kernels.
// Compiled with function-level target attributes, run only where cpuid says so.
#include "matmul_fast.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstring>

#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace tramontane::cpu {

namespace {

// Weights i .. i+7 of a row, widened to fp32.
template <StoredType D>
TARGET_AVX2 inline __m256 load_w8(const void* row, int i) {
  if constexpr (D == StoredType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + i));
    if constexpr (D == StoredType::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

// The lane tree of one dot product held as lanes 0-7 (lo) and 8-15 (hi).
TARGET_AVX2 inline float reduce(__m256 lo, __m256 hi) {
  const __m256 b = _mm256_add_ps(lo, hi);                                              // k + (k+8)
  const __m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));  // k + (k+4)
  const __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));                                  // k + (k+2)
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));                         // k + (k+1)
}

template <StoredType D, int R, int T>
TARGET_AVX2 void block(const MatmulJob& j, int64_t r0, int t0) {
  const int cols = j.cols;
  const size_t value_bytes = block_bytes(D);  // once: an out-of-line call
  const size_t row_bytes = size_t(cols) * value_bytes;
  const uint8_t* w = static_cast<const uint8_t*>(j.w) + size_t(r0) * row_bytes;
  const float* x = j.x + size_t(t0) * size_t(cols);
  __m256 lo[R * T], hi[R * T];
  for (int a = 0; a < R * T; ++a) lo[a] = hi[a] = _mm256_setzero_ps();
  auto step = [&](const float* const* xs, const void* const* ws, int i) TARGET_AVX2 {
    __m256 xl[T], xh[T];
    for (int t = 0; t < T; ++t) {
      xl[t] = _mm256_loadu_ps(xs[t] + i);
      xh[t] = _mm256_loadu_ps(xs[t] + i + 8);
    }
    for (int r = 0; r < R; ++r) {
      const __m256 wl = load_w8<D>(ws[r], i), wh = load_w8<D>(ws[r], i + 8);
      for (int t = 0; t < T; ++t) {
        lo[r * T + t] = _mm256_fmadd_ps(wl, xl[t], lo[r * T + t]);
        hi[r * T + t] = _mm256_fmadd_ps(wh, xh[t], hi[r * T + t]);
      }
    }
  };
  const float* xs[T];
  const void* ws[R];
  for (int t = 0; t < T; ++t) xs[t] = x + size_t(t) * cols;
  for (int r = 0; r < R; ++r) ws[r] = w + size_t(r) * row_bytes;
  int i = 0;
  for (; i + 16 <= cols; i += 16) {
    if constexpr (T == 1) {
      // Decode streams the weights from memory once: ask for the next rows' lines now.
      if (i % 32 == 0) {
        for (int r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(w + size_t(R + r) * row_bytes) + size_t(i) * value_bytes, _MM_HINT_T0);
      }
    }
    step(xs, ws, i);
  }
  if (i < cols) {  // the last partial group, copied zero-padded
    const int rest = cols - i;
    float xpad[T][16] = {};
    alignas(32) uint8_t wpad[R][64] = {};
    for (int t = 0; t < T; ++t) {
      std::memcpy(xpad[t], xs[t] + i, size_t(rest) * sizeof(float));
      xs[t] = xpad[t];
    }
    for (int r = 0; r < R; ++r) {
      std::memcpy(wpad[r], static_cast<const uint8_t*>(ws[r]) + size_t(i) * block_bytes(D),
                  size_t(rest) * block_bytes(D));
      ws[r] = wpad[r];
    }
    step(xs, ws, 0);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t)
      j.out[size_t(t0 + t) * j.out_stride + size_t(r0 + r)] = reduce(lo[r * T + t], hi[r * T + t]);
}

// Decode (one token): 4 rows at a time. Prefill: tiles of kTile rows stay in cache
// while the tokens pass over them 2 at a time, 2 rows × 2 tokens per block (8
// accumulators of the 16 ymm registers).
template <StoredType D>
TARGET_AVX2 void rows(const MatmulJob& j, int64_t r0, int64_t r1) {
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

TARGET_AVX2 void rows_avx2(const MatmulJob& job, int64_t r0, int64_t r1) {
  switch (job.type) {
    case StoredType::F32: rows<StoredType::F32>(job, r0, r1); break;
    case StoredType::BF16: rows<StoredType::BF16>(job, r0, r1); break;
    case StoredType::F16: rows<StoredType::F16>(job, r0, r1); break;
    default: break;  // block types never come here: matmul_with sends them to quant_matmul
  }
}

}  // namespace tramontane::cpu

#endif
