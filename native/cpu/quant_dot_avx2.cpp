// The 8-bit activation dot products in AVX2, compiled for AVX2 function by function
// (target attributes) and called only when the CPU has it. Each block's integer sums
// come from 32-byte vectors; its fp32 term is then formed and accumulated exactly as
// quant_dot_scalar.cpp does, so both give the same bits.
#include <cstring>

#include "convert.h"
#include "quant_dot.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TRAMONTANE_AVX2 __attribute__((target("avx2")))

namespace tramontane::cpu {

namespace {

float h(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return f16_to_f32(v);
}

TRAMONTANE_AVX2 inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Σ over 32 bytes of unsigned a (≤ 63) times signed b, as 8 int32 partial sums, each
// pair of products scaled by `scale` (int16 lanes) first.
TRAMONTANE_AVX2 inline __m256i dot_u8(__m256i a, __m256i b, __m256i scale) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), scale);
}

TRAMONTANE_AVX2 inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// 16 bytes of nibbles → 32 values: low nibbles first (values 0..15), then high ones.
TRAMONTANE_AVX2 inline __m256i nibbles(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low), _mm_and_si128(v, low));
}

// The 32 bits of qh as 32 bytes: 16 where bit j is set, else 0.
TRAMONTANE_AVX2 inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i mask = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

TRAMONTANE_AVX2 float dot_32(DType type, const uint8_t* w, const Q8Block* x, int64_t blocks) {
  const int bytes = block_shape(type).bytes;
  const __m256i ones = _mm256_set1_epi16(1);
  float acc = 0.f;
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    const Q8Block& xb = x[b];
    const __m256i xv = load32(xb.q);
    float term = 0.f;
    switch (type) {
      case DType::Q8_0: {
        const __m256i wv = load32(w + 2);
        const int32_t sum = hsum(dot_u8(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv), ones));
        term = (h(w) * xb.d) * float(sum);
        break;
      }
      case DType::Q4_0:
        term = (h(w) * xb.d) * float(hsum(dot_u8(nibbles(w + 2), xv, ones)) - 8 * xb.sum);
        break;
      case DType::Q5_0: {
        const __m256i q = _mm256_or_si256(nibbles(w + 6), fifth_bits(w + 2));
        term = (h(w) * xb.d) * float(hsum(dot_u8(q, xv, ones)) - 16 * xb.sum);
        break;
      }
      case DType::Q4_1:
        term = (h(w) * xb.d) * float(hsum(dot_u8(nibbles(w + 4), xv, ones))) + (h(w + 2) * xb.d) * float(xb.sum);
        break;
      case DType::Q5_1: {
        const __m256i q = _mm256_or_si256(nibbles(w + 8), fifth_bits(w + 4));
        term = (h(w) * xb.d) * float(hsum(dot_u8(q, xv, ones))) + (h(w + 2) * xb.d) * float(xb.sum);
        break;
      }
      default: break;
    }
    acc = acc + term;
  }
  return acc;
}

void scale_min(const uint8_t* scales, int s, int& sc, int& m) {
  if (s < 4) {
    sc = scales[s] & 63;
    m = scales[s + 4] & 63;
  } else {
    sc = (scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4);
    m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
  }
}

TRAMONTANE_AVX2 float dot_k45(DType type, const uint8_t* w, const Q8KBlock* x, int64_t blocks) {
  const bool five = type == DType::Q5_K;
  const int bytes = block_shape(type).bytes;
  const __m256i low = _mm256_set1_epi8(15);
  float acc = 0.f;
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    const Q8KBlock& xb = x[b];
    const uint8_t* qs = w + (five ? 48 : 16);
    const __m256i qh = five ? load32(w + 16) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
    int32_t msum = 0;
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load32(qs + 32 * c);
      for (int half = 0; half < 2; ++half) {
        const int s = 2 * c + half;
        int sc, m;
        scale_min(w + 4, s, sc, m);
        __m256i q = half ? _mm256_and_si256(_mm256_srli_epi16(v, 4), low) : _mm256_and_si256(v, low);
        if (five) {
          const __m256i bit = _mm256_set1_epi8(char(1 << s));
          const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
          q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
        }
        isum = _mm256_add_epi32(isum, dot_u8(q, load32(xb.q + 32 * s), _mm256_set1_epi16(int16_t(sc))));
        msum += m * (xb.sums[2 * s] + xb.sums[2 * s + 1]);
      }
    }
    const float term = (xb.d * h(w)) * float(hsum(isum)) - (xb.d * h(w + 2)) * float(msum);
    acc = acc + term;
  }
  return acc;
}

TRAMONTANE_AVX2 float dot_q6_k(const uint8_t* w, const Q8KBlock* x, int64_t blocks) {
  const __m256i low = _mm256_set1_epi8(15);
  const __m256i top = _mm256_set1_epi8(0x30);
  float acc = 0.f;
  for (int64_t b = 0; b < blocks; ++b, w += 210) {
    const Q8KBlock& xb = x[b];
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    __m256i isum = _mm256_setzero_si256();
    int32_t offset = 0;  // Σ sc_g · 32 · Σ q_x over group g: the −32 of every value
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = load32(w + 64 * half);
      const __m256i ql1 = load32(w + 64 * half + 32);
      const __m256i qh = load32(w + 128 + 32 * half);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top)),
          _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_and_si256(qh, top)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), top)),
      };
      for (int k = 0; k < 4; ++k) {
        const int g = 8 * half + 2 * k;
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
        isum = _mm256_add_epi32(isum, dot_u8(q[k], load32(xb.q + 128 * half + 32 * k), scales));
        offset += 32 * (sc[g] * xb.sums[g] + sc[g + 1] * xb.sums[g + 1]);
      }
    }
    const float term = (xb.d * h(w + 208)) * float(hsum(isum) - offset);
    acc = acc + term;
  }
  return acc;
}

}  // namespace

float dot_avx2(DType type, const uint8_t* w, const void* xq, int64_t blocks) {
  if (type == DType::Q6_K) return dot_q6_k(w, static_cast<const Q8KBlock*>(xq), blocks);
  if (type == DType::Q4_K || type == DType::Q5_K) return dot_k45(type, w, static_cast<const Q8KBlock*>(xq), blocks);
  return dot_32(type, w, static_cast<const Q8Block*>(xq), blocks);
}

}  // namespace tramontane::cpu

#else

namespace tramontane::cpu {
float dot_avx2(DType type, const uint8_t* w, const void* xq, int64_t blocks) {
  return dot_scalar(type, w, xq, blocks);
}
}  // namespace tramontane::cpu

#endif
