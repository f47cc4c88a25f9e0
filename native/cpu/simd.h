// Four fp32 lanes: SSE where the compiler targets it, plain arrays elsewhere. Both
// paths do the same separately rounded multiply and add in the same order, so results
// are identical, and every dot product in the engine has one defined summation order:
// lane k sums the products at indices ≡ k (mod 4), ascending; the lanes are combined as
// (l0 + l1) + (l2 + l3); leftover elements (n mod 4) are summed in order and added last.
#pragma once

#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tramontane::cpu {

#if defined(__SSE2__)

struct F4 {
  __m128 v;
};
inline F4 f4_zero() { return {_mm_setzero_ps()}; }
inline F4 f4_load(const float* p) { return {_mm_loadu_ps(p)}; }
// acc + a·b, rounded after the multiply and after the add (no fused multiply-add).
inline F4 f4_mul_add(F4 acc, F4 a, F4 b) { return {_mm_add_ps(acc.v, _mm_mul_ps(a.v, b.v))}; }
inline float f4_sum(F4 a) {
  __m128 pairs = _mm_add_ps(a.v, _mm_shuffle_ps(a.v, a.v, _MM_SHUFFLE(2, 3, 0, 1)));  // l0+l1, ., l2+l3, .
  return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehl_ps(pairs, pairs)));
}

// 8 bfloat16 → 8 fp32: each value moves to the top half of a 32-bit lane.
inline void bf16x8_to_f32(const uint16_t* src, float* dst) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  __m128i zero = _mm_setzero_si128();
  _mm_storeu_ps(dst, _mm_castsi128_ps(_mm_unpacklo_epi16(zero, h)));
  _mm_storeu_ps(dst + 4, _mm_castsi128_ps(_mm_unpackhi_epi16(zero, h)));
}

#else

struct F4 {
  float v[4];
};
inline F4 f4_zero() { return {{0.f, 0.f, 0.f, 0.f}}; }
inline F4 f4_load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
inline F4 f4_mul_add(F4 acc, F4 a, F4 b) {
  for (int k = 0; k < 4; ++k) {
    volatile float product = a.v[k] * b.v[k];  // keep the compiler from fusing
    acc.v[k] = acc.v[k] + product;
  }
  return acc;
}
inline float f4_sum(F4 a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }

void bf16x8_to_f32(const uint16_t* src, float* dst);

#endif

}  // namespace tramontane::cpu
