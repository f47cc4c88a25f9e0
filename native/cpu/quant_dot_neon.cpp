// The 8-bit activation dot products in ARM64 Advanced SIMD: quant_dot.h's eight lanes
// as two int32x4 vectors (lane k: values 4k .. 4k+3 of a 32-value block, or of each
// 32-value slice of a super-block), the fp32 terms formed and accumulated as
// quant_dot_scalar.cpp does (this file is compiled without contraction into fused
// multiply-adds), so the results are the scalar kernel's bits. A weight block is
// unpacked once for up to 4 tokens. Baseline ARMv8 only (no dot-product extension).
#include <cstring>

#include "convert.h"
#include "quant_blocks.h"
#include "quant_dot.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <type_traits>

namespace tramontane::cpu {

namespace {

// Σ w · x over each 4 consecutive of 16 values: [0..3], [4..7], [8..11], [12..15].
inline int32x4_t dot4(int8x16_t w, int8x16_t x) {
  const int16x8_t low = vmull_s8(vget_low_s8(w), vget_low_s8(x));
  const int16x8_t high = vmull_high_s8(w, x);
  return vpaddq_s32(vpaddlq_s16(low), vpaddlq_s16(high));
}

// Bits 0..15 of `bits` as 16 bytes: 16 where bit j is set, else 0.
inline uint8x16_t fifth_bits(uint32_t bits) {
  const uint8x16_t spread = vcombine_u8(vdup_n_u8(uint8_t(bits)), vdup_n_u8(uint8_t(bits >> 8)));
  const uint8x16_t mask = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  return vandq_u8(vtstq_u8(spread, mask), vdupq_n_u8(16));
}

// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) for lanes 0-3 in a, 4-7 in b.
inline float lane_sum(float32x4_t a, float32x4_t b) {
  const float32x4_t s = vaddq_f32(a, b);
  return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 2)) + (vgetq_lane_f32(s, 1) + vgetq_lane_f32(s, 3));
}

// The 32 signed weight levels of a block of a 32-value format (values 0-15, 16-31).
template <StoredType F>
inline void levels_32(const uint8_t* w, int8x16_t& a, int8x16_t& b) {
  if constexpr (F == StoredType::Q8_0) {
    a = vld1q_s8(reinterpret_cast<const int8_t*>(w + 2));
    b = vld1q_s8(reinterpret_cast<const int8_t*>(w + 18));
    return;
  }
  constexpr int qs_at = F == StoredType::Q5_0 ? 6 : F == StoredType::Q4_1 ? 4 : F == StoredType::Q5_1 ? 8 : 2;
  const uint8x16_t v = vld1q_u8(w + qs_at);
  uint8x16_t low = vandq_u8(v, vdupq_n_u8(15)), high = vshrq_n_u8(v, 4);
  if constexpr (F == StoredType::Q5_0 || F == StoredType::Q5_1) {
    uint32_t bits;
    std::memcpy(&bits, w + (F == StoredType::Q5_0 ? 2 : 4), 4);
    low = vorrq_u8(low, fifth_bits(bits));
    high = vorrq_u8(high, fifth_bits(bits >> 16));
  }
  if constexpr (F == StoredType::IQ4_NL) {
    const int8x16_t table = vld1q_s8(kIq4Levels);
    a = vqtbl1q_s8(table, low);
    b = vqtbl1q_s8(table, high);
    return;
  }
  const int8x16_t offset = vdupq_n_s8(F == StoredType::Q4_0 ? 8 : F == StoredType::Q5_0 ? 16 : 0);
  a = vsubq_s8(vreinterpretq_s8_u8(low), offset);
  b = vsubq_s8(vreinterpretq_s8_u8(high), offset);
}

// One row × T tokens of a 32-value format.
template <StoredType F, int T>
void row_32(const uint8_t* w, const uint8_t* x, size_t x_stride, int64_t blocks, float* out, size_t out_stride) {
  constexpr bool with_min = F == StoredType::Q4_1 || F == StoredType::Q5_1;
  const size_t bytes = block_bytes(F);
  float32x4_t acc[T][2];
  float min_acc[T];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.f), min_acc[t] = 0.f;
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    int8x16_t qa, qb;
    levels_32<F>(w, qa, qb);
    const float d = f16_at(w), m = with_min ? f16_at(w + 2) : 0.f;
    for (int t = 0; t < T; ++t) {
      const Q8Block& xb = reinterpret_cast<const Q8Block*>(x + size_t(t) * x_stride)[b];
      const int32x4_t l0 = dot4(qa, vld1q_s8(xb.q)), l1 = dot4(qb, vld1q_s8(xb.q + 16));
      const float32x4_t scale = vdupq_n_f32(d * xb.d);
      acc[t][0] = vaddq_f32(acc[t][0], vmulq_f32(vcvtq_f32_s32(l0), scale));
      acc[t][1] = vaddq_f32(acc[t][1], vmulq_f32(vcvtq_f32_s32(l1), scale));
      if constexpr (with_min) min_acc[t] = min_acc[t] + (m * xb.d) * float(xb.sum);
    }
  }
  for (int t = 0; t < T; ++t) out[size_t(t) * out_stride] = lane_sum(acc[t][0], acc[t][1]) + min_acc[t];
}

// A row's K super-block unpacked: the 32 values of each slice s (values 32s ..), as
// bytes (Q6_K before its −32), the int32 scale of each half of the slice, and what the
// lane corrections need.
struct KBlock {
  int8x16_t q[8][2];
  int32x4_t scale[8][2];
  int sc_or_min[16];  // Q4_K / Q5_K: the 8 mins; Q6_K: the 16 group scales
  float d, dmin;
};

template <StoredType F>
inline void unpack_k(const uint8_t* w, KBlock& k) {
  const uint8x16_t low = vdupq_n_u8(15);
  if constexpr (F == StoredType::Q4_K || F == StoredType::Q5_K) {
    const uint8_t* qs = w + (F == StoredType::Q5_K ? 48 : 16);
    for (int s = 0; s < 8; ++s) {
      int sc, m;
      k_scale_min(w + 4, s, sc, m);
      k.sc_or_min[s] = m;
      for (int half = 0; half < 2; ++half) {
        const uint8x16_t v = vld1q_u8(qs + 32 * (s / 2) + 16 * half);
        uint8x16_t q = s % 2 ? vshrq_n_u8(v, 4) : vandq_u8(v, low);
        if constexpr (F == StoredType::Q5_K) {
          const uint8x16_t set = vtstq_u8(vld1q_u8(w + 16 + 16 * half), vdupq_n_u8(uint8_t(1 << s)));
          q = vorrq_u8(q, vandq_u8(set, vdupq_n_u8(16)));
        }
        k.q[s][half] = vreinterpretq_s8_u8(q);
        k.scale[s][half] = vdupq_n_s32(sc);
      }
    }
    k.d = f16_at(w), k.dmin = f16_at(w + 2);
  } else if constexpr (F == StoredType::Q6_K) {
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    for (int g = 0; g < 16; ++g) k.sc_or_min[g] = sc[g];
    for (int s = 0; s < 8; ++s) {
      const int part = s / 4, quarter = s % 4;  // quant_blocks.h: quarter of half `part`
      for (int half = 0; half < 2; ++half) {
        const uint8x16_t ql = vld1q_u8(w + 64 * part + 32 * (quarter % 2) + 16 * half);
        const uint8x16_t qh = vld1q_u8(w + 128 + 32 * part + 16 * half);
        const uint8x16_t lo = quarter < 2 ? vandq_u8(ql, low) : vshrq_n_u8(ql, 4);
        const uint8x16_t hi = vshlq_n_u8(vandq_u8(vshlq_u8(qh, vdupq_n_s8(int8_t(-2 * quarter))), vdupq_n_u8(3)), 4);
        k.q[s][half] = vreinterpretq_s8_u8(vorrq_u8(lo, hi));
        k.scale[s][half] = vdupq_n_s32(sc[2 * s + half]);
      }
    }
    k.d = f16_at(w + 208), k.dmin = 0.f;
  } else {  // IQ4_XS
    uint16_t high;
    std::memcpy(&high, w + 2, 2);
    const int8x16_t table = vld1q_s8(kIq4Levels);
    for (int s = 0; s < 8; ++s) {
      const int ls = ((w[4 + s / 2] >> (4 * (s % 2))) & 15) | ((high >> (2 * s)) & 3) << 4;
      const uint8x16_t v = vld1q_u8(w + 8 + 16 * s);
      k.q[s][0] = vqtbl1q_s8(table, vandq_u8(v, low));
      k.q[s][1] = vqtbl1q_s8(table, vshrq_n_u8(v, 4));
      k.scale[s][0] = k.scale[s][1] = vdupq_n_s32(ls - 32);
    }
    k.d = f16_at(w), k.dmin = 0.f;
  }
}

// One row × T tokens of a K format.
template <StoredType F, int T>
void row_k(const uint8_t* w, const uint8_t* x, size_t x_stride, int64_t blocks, float* out, size_t out_stride) {
  const size_t bytes = block_bytes(F);
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.f);
  KBlock k;
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    unpack_k<F>(w, k);
    for (int t = 0; t < T; ++t) {
      const Q8KBlock& xb = reinterpret_cast<const Q8KBlock*>(x + size_t(t) * x_stride)[b];
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int s = 0; s < 8; ++s) {
        for (int half = 0; half < 2; ++half) {
          const int32x4_t lanes = dot4(k.q[s][half], vld1q_s8(xb.q + 32 * s + 16 * half));
          isum[half] = vmlaq_s32(isum[half], lanes, k.scale[s][half]);
        }
      }
      int32_t correction[8] = {};
      for (int c = 0; c < 8; ++c) {
        if constexpr (F == StoredType::Q4_K || F == StoredType::Q5_K) {
          correction[c] = k.sc_or_min[c] * (xb.sums[2 * c] + xb.sums[2 * c + 1]);
        } else if constexpr (F == StoredType::Q6_K) {
          correction[c] = 32 * (k.sc_or_min[2 * c] * xb.sums[2 * c] + k.sc_or_min[2 * c + 1] * xb.sums[2 * c + 1]);
        }
      }
      const float32x4_t scale = vdupq_n_f32(xb.d * k.d), min_scale = vdupq_n_f32(xb.d * k.dmin);
      for (int half = 0; half < 2; ++half) {
        const int32x4_t c = vld1q_s32(correction + 4 * half);
        float32x4_t term;
        if constexpr (F == StoredType::Q4_K || F == StoredType::Q5_K) {
          term = vsubq_f32(vmulq_f32(vcvtq_f32_s32(isum[half]), scale), vmulq_f32(vcvtq_f32_s32(c), min_scale));
        } else {
          term = vmulq_f32(vcvtq_f32_s32(vsubq_s32(isum[half], c)), scale);
        }
        acc[t][half] = vaddq_f32(acc[t][half], term);
      }
    }
  }
  for (int t = 0; t < T; ++t) out[size_t(t) * out_stride] = lane_sum(acc[t][0], acc[t][1]);
}

template <StoredType F>
void tile(const uint8_t* w, size_t w_stride, int rows, const uint8_t* x, size_t x_stride, int tokens, int64_t blocks,
          float* out, size_t out_stride) {
  constexpr bool k_format = F == StoredType::Q4_K || F == StoredType::Q5_K || F == StoredType::Q6_K ||
                            F == StoredType::IQ4_XS;
  auto rows_of = [&](auto tokens_constant, const uint8_t* xt, float* ot) {
    constexpr int T = decltype(tokens_constant)::value;
    for (int r = 0; r < rows; ++r) {
      if constexpr (k_format) {
        row_k<F, T>(w + size_t(r) * w_stride, xt, x_stride, blocks, ot + r, out_stride);
      } else {
        row_32<F, T>(w + size_t(r) * w_stride, xt, x_stride, blocks, ot + r, out_stride);
      }
    }
  };
  int t = 0;
  for (; t + 4 <= tokens; t += 4) rows_of(std::integral_constant<int, 4>{}, x + size_t(t) * x_stride, out + size_t(t) * out_stride);
  for (; t < tokens; ++t) rows_of(std::integral_constant<int, 1>{}, x + size_t(t) * x_stride, out + size_t(t) * out_stride);
}

}  // namespace

void dot_tile_neon(StoredType type, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride) {
  const uint8_t* x = static_cast<const uint8_t*>(xq);
  switch (type) {
    case StoredType::Q8_0: return tile<StoredType::Q8_0>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q4_0: return tile<StoredType::Q4_0>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q5_0: return tile<StoredType::Q5_0>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q4_1: return tile<StoredType::Q4_1>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q5_1: return tile<StoredType::Q5_1>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::IQ4_NL: return tile<StoredType::IQ4_NL>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q4_K: return tile<StoredType::Q4_K>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q5_K: return tile<StoredType::Q5_K>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    case StoredType::Q6_K: return tile<StoredType::Q6_K>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    default: return tile<StoredType::IQ4_XS>(w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
  }
}

}  // namespace tramontane::cpu

#else

namespace tramontane::cpu {
// Not an ARM64 build: quant_kernel_available(Neon) is false and nothing calls this.
void dot_tile_neon(StoredType type, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride) {
  dot_tile_scalar(type, w, w_stride, rows, xq, x_stride, tokens, blocks, out, out_stride);
}
}  // namespace tramontane::cpu

#endif
