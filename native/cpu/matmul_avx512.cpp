// AVX-512 kernels for matmul_fast.h: one zmm register is the 16 lanes of one dot
// product. Compiled with function-level target attributes, run only where cpuid says so.
#include "matmul_fast.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// GCC 12's AVX-512 headers trip its own uninitialized-value warnings (_mm512_undefined_*).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace tramontane::cpu {

namespace {

// Weights i .. i+15 of a row, widened to fp32; with a mask, the lanes outside it are 0.
template <StoredType D>
TARGET_AVX512 inline __m512 load_w(const void* row, int i) {
  if constexpr (D == StoredType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i));
    if constexpr (D == StoredType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <StoredType D>
TARGET_AVX512 inline __m512 load_w(const void* row, int i, __mmask16 m) {
  if constexpr (D == StoredType::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + i);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + i);
    if constexpr (D == StoredType::F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// The lane trees of 16 accumulators at once: lane 4q + m of the result is the sum of
// a[q + 4m]. Each output sees the pairing matmul_fast.h defines.
TARGET_AVX512 inline __m512 reduce16(const __m512* a) {
  __m512 s[8], u[4], v[2];
  for (int k = 0; k < 8; ++k)  // k + (k+8)
    s[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xEE));
  for (int k = 0; k < 4; ++k)  // k + (k+4)
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * k], s[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(s[2 * k], s[2 * k + 1], 0xDD));
  for (int k = 0; k < 2; ++k)  // k + (k+2)
    v[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0)),  // k + (k+1)
                       _mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// out for R rows from r0 × T tokens from t0: each weight load serves T tokens, each
// activation load R rows.
template <StoredType D, int R, int T>
TARGET_AVX512 void block(const MatmulJob& j, int64_t r0, int t0) {
  static_assert(R * T <= 16, "one reduce16");
  const int cols = j.cols;
  const size_t value_bytes = block_bytes(D);  // once: an out-of-line call
  const size_t row_bytes = size_t(cols) * value_bytes;
  const uint8_t* w = static_cast<const uint8_t*>(j.w) + size_t(r0) * row_bytes;
  const float* x = j.x + size_t(t0) * size_t(cols);
  __m512 acc[16];
  for (int a = 0; a < 16; ++a) acc[a] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= cols; i += 16) {
    if constexpr (T == 1) {
      // Decode streams the weights from memory once: ask for the next rows' lines now.
      // Every other step covers a 64-byte line of each of the R rows.
      if (i % 32 == 0) {
        for (int r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(w + size_t(R + r) * row_bytes) + size_t(i) * value_bytes, _MM_HINT_T0);
      }
    }
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + size_t(t) * cols + i);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = load_w<D>(w + size_t(r) * row_bytes, i);
      for (int t = 0; t < T; ++t) acc[r * T + t] = _mm512_fmadd_ps(wv, xv[t], acc[r * T + t]);
    }
  }
  if (i < cols) {  // the last partial group, zero-padded
    const __mmask16 m = __mmask16((1u << (cols - i)) - 1);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, x + size_t(t) * cols + i);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = load_w<D>(w + size_t(r) * row_bytes, i, m);
      for (int t = 0; t < T; ++t) acc[r * T + t] = _mm512_fmadd_ps(wv, xv[t], acc[r * T + t]);
    }
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, reduce16(acc));
  for (int a = 0; a < R * T; ++a) {
    const int r = a / T, t = a % T;
    j.out[size_t(t0 + t) * j.out_stride + size_t(r0 + r)] = lanes[4 * (a % 4) + a / 4];
  }
}

template <StoredType D, int R>
TARGET_AVX512 void block_tokens(const MatmulJob& j, int64_t r0, int t0, int tokens) {
  switch (tokens) {
    case 1: block<D, R, 1>(j, r0, t0); break;
    case 2: block<D, R, 2>(j, r0, t0); break;
    case 3: block<D, R, 3>(j, r0, t0); break;
    default: block<D, R, 4>(j, r0, t0); break;
  }
}

// Decode (one token): 16 rows at a time. Prefill: tiles of kTile rows stay in cache
// while the tokens pass over them 4 at a time, 4 rows × 4 tokens per block.
template <StoredType D>
TARGET_AVX512 void rows(const MatmulJob& j, int64_t r0, int64_t r1) {
  if (j.n == 1) {
    int64_t r = r0;
    for (; r + 16 <= r1; r += 16) block<D, 16, 1>(j, r, 0);
    for (; r < r1; ++r) block<D, 1, 1>(j, r, 0);
    return;
  }
  constexpr int64_t kTile = 64;
  for (int64_t tile = r0; tile < r1; tile += kTile) {
    const int64_t tile_end = tile + kTile < r1 ? tile + kTile : r1;
    for (int t = 0; t < j.n; t += 4) {
      const int tokens = j.n - t < 4 ? j.n - t : 4;
      int64_t r = tile;
      for (; r + 4 <= tile_end; r += 4) block_tokens<D, 4>(j, r, t, tokens);
      for (; r < tile_end; ++r) block_tokens<D, 1>(j, r, t, tokens);
    }
  }
}

}  // namespace

TARGET_AVX512 void rows_avx512(const MatmulJob& job, int64_t r0, int64_t r1) {
  switch (job.type) {
    case StoredType::F32: rows<StoredType::F32>(job, r0, r1); break;
    case StoredType::BF16: rows<StoredType::BF16>(job, r0, r1); break;
    case StoredType::F16: rows<StoredType::F16>(job, r0, r1); break;
    default: break;  // block types never come here: matmul_with sends them to quant_matmul
  }
}

}  // namespace tramontane::cpu

#endif
