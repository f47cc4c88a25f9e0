#include "quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "convert.h"

namespace tramontane::cpu {

const int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

uint16_t f32_to_f16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  const float a = std::fabs(x);
  if (std::isnan(x)) return uint16_t(sign | 0x7e00);
  if (a >= 65520.f) return uint16_t(sign | 0x7c00);  // rounds past the largest half
  if (a < 6.103515625e-05f) {                          // subnormal: multiples of 2^-24
    return uint16_t(sign | uint16_t(std::nearbyint(a * 16777216.f)));
  }
  int exponent;
  const float mantissa = std::frexp(a, &exponent);  // a = mantissa · 2^exponent, mantissa in [0.5, 1)
  // 11 significant bits: round mantissa · 2^11 to an integer in [1024, 2048].
  uint32_t m = uint32_t(std::nearbyint(mantissa * 2048.f));
  if (m == 2048) {
    m = 1024;
    ++exponent;
  }
  const uint32_t e = uint32_t(exponent - 1 + 15);  // biased exponent of a = 1.f · 2^(exponent−1)
  if (e >= 31) return uint16_t(sign | 0x7c00);
  return uint16_t(sign | (e << 10) | (m - 1024));
}

void k_scale_min(const uint8_t* scales, int s, int& sc, int& m) {
  if (s < 4) {
    sc = scales[s] & 63;
    m = scales[s + 4] & 63;
  } else {
    sc = (scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4);
    m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
  }
}

int q3_k_scale(const uint8_t* scales, int g) {
  const int low = g < 8 ? scales[g] & 15 : scales[g - 8] >> 4;
  return (low | ((scales[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
}

namespace {

void put_h(uint8_t* p, float x) {
  const uint16_t v = f32_to_f16(x);
  std::memcpy(p, &v, 2);
}

void pack_scale_min(uint8_t* scales, const int* sc, const int* m) {
  std::memset(scales, 0, 12);
  for (int s = 0; s < 8; ++s) {
    if (s < 4) {
      scales[s] |= uint8_t(sc[s]);
      scales[s + 4] |= uint8_t(m[s]);
    } else {
      scales[s + 4] = uint8_t((sc[s] & 15) | ((m[s] & 15) << 4));
      scales[s - 4] |= uint8_t((sc[s] >> 4) << 6);
      scales[s] |= uint8_t((m[s] >> 4) << 6);
    }
  }
}

// --- dequantization, one block ---

void dq_q8_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  for (int i = 0; i < 32; ++i) y[i] = d * float(int8_t(b[2 + i]));
}

// Q4_0 / Q4_1: 4-bit values q, then d·(q − 8) or d·q + m.
void dq_q4(const uint8_t* b, float* y, bool with_min) {
  const float d = f16_at(b);
  const float m = with_min ? f16_at(b + 2) : 0.f;
  const uint8_t* qs = b + (with_min ? 4 : 2);
  for (int j = 0; j < 16; ++j) {
    const int lo = qs[j] & 15, hi = qs[j] >> 4;
    if (with_min) {
      y[j] = d * float(lo) + m;
      y[j + 16] = d * float(hi) + m;
    } else {
      y[j] = d * float(lo - 8);
      y[j + 16] = d * float(hi - 8);
    }
  }
}

void dq_q5(const uint8_t* b, float* y, bool with_min) {
  const float d = f16_at(b);
  const float m = with_min ? f16_at(b + 2) : 0.f;
  const uint8_t* p = b + (with_min ? 4 : 2);
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const uint8_t* qs = p + 4;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 15) | int((qh >> j) & 1) << 4;
    const int hi = (qs[j] >> 4) | int((qh >> (j + 16)) & 1) << 4;
    if (with_min) {
      y[j] = d * float(lo) + m;
      y[j + 16] = d * float(hi) + m;
    } else {
      y[j] = d * float(lo - 16);
      y[j + 16] = d * float(hi - 16);
    }
  }
}

// Q4_K and Q5_K (qh null for Q4_K).
void dq_k45(const uint8_t* b, float* y, bool five) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = five ? b + 16 : nullptr;
  const uint8_t* qs = b + (five ? 48 : 16);
  for (int c = 0; c < 4; ++c) {
    for (int half = 0; half < 2; ++half) {
      const int s = 2 * c + half;
      int sc, m;
      k_scale_min(scales, s, sc, m);
      const float ds = d * float(sc), ms = dmin * float(m);
      for (int l = 0; l < 32; ++l) {
        int q = half ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
        if (qh) q |= ((qh[l] >> s) & 1) << 4;
        y[32 * s + l] = ds * float(q) - ms;
      }
    }
  }
}

void dq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* l4 = ql + 64 * half;
    const uint8_t* h2 = qh + 32 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int q[4] = {
          ((l4[l] & 15) | ((h2[l] >> 0) & 3) << 4) - 32,
          ((l4[l + 32] & 15) | ((h2[l] >> 2) & 3) << 4) - 32,
          ((l4[l] >> 4) | ((h2[l] >> 4) & 3) << 4) - 32,
          ((l4[l + 32] >> 4) | ((h2[l] >> 6) & 3) << 4) - 32,
      };
      for (int k = 0; k < 4; ++k) {
        const int i = 128 * half + 32 * k + l;
        out[32 * k + l] = d * float(sc[i / 16]) * float(q[k]);
      }
    }
  }
}

// IQ4_NL values of one 32-value group (16 bytes of nibbles) times dl.
void dq_iq4(const uint8_t* qs, float dl, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = dl * float(kIq4Levels[qs[j] & 15]);
    y[j + 16] = dl * float(kIq4Levels[qs[j] >> 4]);
  }
}

int iq4_xs_scale(const uint8_t* b, int s) {
  uint16_t high;
  std::memcpy(&high, b + 2, 2);
  return ((b[4 + s / 2] >> (4 * (s % 2))) & 15) | ((high >> (2 * s)) & 3) << 4;
}

void dq_iq4_xs(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  for (int s = 0; s < 8; ++s) dq_iq4(b + 8 + 16 * s, d * float(iq4_xs_scale(b, s) - 32), y + 32 * s);
}

// Q2_K and Q3_K: the 2 low bits of value i = 128n + 32j + l (l < 32) are bits 2j, 2j + 1
// of qs[32n + l].
int low2(const uint8_t* qs, int i) { return (qs[32 * (i / 128) + i % 32] >> (2 * (i % 128 / 32))) & 3; }

void dq_q2_k(const uint8_t* b, float* y) {
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  for (int i = 0; i < 256; ++i) {
    const int sc = b[i / 16] & 15, m = b[i / 16] >> 4;
    y[i] = d * float(sc) * float(low2(b + 16, i)) - dmin * float(m);
  }
}

void dq_q3_k(const uint8_t* b, float* y) {
  const float d = f16_at(b + 108);
  for (int i = 0; i < 256; ++i) {
    const int high = (b[i % 32] >> (i / 32)) & 1;
    y[i] = d * float(q3_k_scale(b + 96, i / 16)) * float((low2(b + 32, i) | high << 2) - 4);
  }
}

// --- quantization, one block ---

int nearest(float x) { return int(std::nearbyint(x)); }
int clamp(int v, int lo, int hi) { return std::min(hi, std::max(lo, v)); }

void q_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  put_h(b, amax / 127.f);
  const float d = f16_at(b);
  for (int i = 0; i < 32; ++i) b[2 + i] = uint8_t(int8_t(d > 0 ? clamp(nearest(x[i] / d), -127, 127) : 0));
}

// Q4_0 / Q5_0: the value of largest magnitude maps to −2^(bits−1); the rest round.
void q_symmetric(const float* x, uint8_t* b, int bits) {
  float big = 0;
  for (int i = 0; i < 32; ++i) if (std::fabs(x[i]) > std::fabs(big)) big = x[i];
  const int offset = 1 << (bits - 1);
  put_h(b, big / float(-offset));
  const float d = f16_at(b);
  int q[32];
  for (int i = 0; i < 32; ++i) q[i] = d != 0 ? clamp(nearest(x[i] / d) + offset, 0, 2 * offset - 1) : offset;
  uint8_t* qs = b + (bits == 5 ? 6 : 2);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((q[j] & 15) | (q[j + 16] & 15) << 4);
    qh |= uint32_t(q[j] >> 4) << j;
    qh |= uint32_t(q[j + 16] >> 4) << (j + 16);
  }
  if (bits == 5) std::memcpy(b + 2, &qh, 4);
}

// Q4_1 / Q5_1: min and max map to 0 and 2^bits − 1.
void q_affine(const float* x, uint8_t* b, int bits) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  const int top = (1 << bits) - 1;
  put_h(b, (hi - lo) / float(top));
  put_h(b + 2, lo);
  const float d = f16_at(b), m = f16_at(b + 2);
  int q[32];
  for (int i = 0; i < 32; ++i) q[i] = d > 0 ? clamp(nearest((x[i] - m) / d), 0, top) : 0;
  uint8_t* qs = b + (bits == 5 ? 8 : 4);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((q[j] & 15) | (q[j + 16] & 15) << 4);
    qh |= uint32_t(q[j] >> 4) << j;
    qh |= uint32_t(q[j + 16] >> 4) << (j + 16);
  }
  if (bits == 5) std::memcpy(b + 4, &qh, 4);
}

// Q4_K / Q5_K: per sub-block min and max; scales and mins to 6 bits under the
// super-block's d and dmin; then the values under the rounded scales.
void q_k45(const float* x, uint8_t* b, bool five) {
  const int top = five ? 31 : 15;
  float scale[8], min[8], max_scale = 0, max_min = 0;
  for (int s = 0; s < 8; ++s) {
    float lo = 0, hi = 0;  // the range always holds 0, so mins stay ≥ 0 as the format wants
    for (int l = 0; l < 32; ++l) lo = std::min(lo, x[32 * s + l]), hi = std::max(hi, x[32 * s + l]);
    scale[s] = (hi - lo) / float(top);
    min[s] = -lo;
    max_scale = std::max(max_scale, scale[s]);
    max_min = std::max(max_min, min[s]);
  }
  put_h(b, max_scale / 63.f);
  put_h(b + 2, max_min / 63.f);
  const float d = f16_at(b), dmin = f16_at(b + 2);
  int sc[8], m[8];
  for (int s = 0; s < 8; ++s) {
    sc[s] = d > 0 ? clamp(nearest(scale[s] / d), 0, 63) : 0;
    m[s] = dmin > 0 ? clamp(nearest(min[s] / dmin), 0, 63) : 0;
  }
  pack_scale_min(b + 4, sc, m);
  uint8_t* qh = five ? b + 16 : nullptr;
  uint8_t* qs = b + (five ? 48 : 16);
  if (qh) std::memset(qh, 0, 32);
  std::memset(qs, 0, 128);
  for (int s = 0; s < 8; ++s) {
    const float ds = d * float(sc[s]), ms = dmin * float(m[s]);
    for (int l = 0; l < 32; ++l) {
      const int q = ds > 0 ? clamp(nearest((x[32 * s + l] + ms) / ds), 0, top) : 0;
      const int c = s / 2;
      qs[32 * c + l] |= uint8_t((q & 15) << (s % 2 ? 4 : 0));
      if (qh) qh[l] |= uint8_t((q >> 4) << s);
    }
  }
}

// The scales of a 256-value block's 16 groups of 16 under which each group's value of
// largest magnitude maps to −q_max (Q6_K, Q3_K); returns the largest |scale|.
float signed_group_scales(const float* x, float q_max, float scale[16]) {
  float max_abs = 0;
  for (int g = 0; g < 16; ++g) {
    float big = 0;
    for (int l = 0; l < 16; ++l) if (std::fabs(x[16 * g + l]) > std::fabs(big)) big = x[16 * g + l];
    scale[g] = big / -q_max;
    max_abs = std::max(max_abs, std::fabs(scale[g]));
  }
  return max_abs;
}

// Q6_K: per group of 16, the value of largest magnitude maps to −32; the 16 group
// scales to int8 under d.
void q_q6_k(const float* x, uint8_t* b) {
  float scale[16];
  const float max_abs = signed_group_scales(x, 32.f, scale);
  put_h(b + 208, max_abs / 127.f);
  const float d = f16_at(b + 208);
  int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
  int q[256];
  for (int g = 0; g < 16; ++g) {
    sc[g] = int8_t(d > 0 ? clamp(nearest(scale[g] / d), -127, 127) : 0);
    const float ds = d * float(sc[g]);
    for (int l = 0; l < 16; ++l) q[16 * g + l] = ds != 0 ? clamp(nearest(x[16 * g + l] / ds) + 32, 0, 63) : 32;
  }
  std::memset(b, 0, 192);
  for (int half = 0; half < 2; ++half) {
    uint8_t* ql = b + 64 * half;
    uint8_t* qh = b + 128 + 32 * half;
    const int* v = q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      ql[l] = uint8_t((v[l] & 15) | (v[l + 64] & 15) << 4);
      ql[l + 32] = uint8_t((v[l + 32] & 15) | (v[l + 96] & 15) << 4);
      qh[l] = uint8_t((v[l] >> 4) | (v[l + 32] >> 4) << 2 | (v[l + 64] >> 4) << 4 | (v[l + 96] >> 4) << 6);
    }
  }
}

// The nearest IQ4 level to x / dl, as a nibble.
int nearest_level(float x, float dl) {
  if (dl == 0) return 8;  // level 1, the closest to 0
  const float v = x / dl;
  int best = 0;
  for (int k = 1; k < 16; ++k) {
    if (std::fabs(v - float(kIq4Levels[k])) < std::fabs(v - float(kIq4Levels[best]))) best = k;
  }
  return best;
}

void pack_iq4(const float* x, float dl, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(nearest_level(x[j], dl) | nearest_level(x[j + 16], dl) << 4);
}

// IQ4_NL: the value of largest magnitude maps to the level −127.
void q_iq4_nl(const float* x, uint8_t* b) {
  float big = 0;
  for (int i = 0; i < 32; ++i) if (std::fabs(x[i]) > std::fabs(big)) big = x[i];
  put_h(b, big / -127.f);
  pack_iq4(x, f16_at(b), b + 2);
}

// IQ4_XS: per sub-block as IQ4_NL; the 8 sub-block scales to 6 bits (−32 .. 31) under d.
void q_iq4_xs(const float* x, uint8_t* b) {
  float scale[8], max_abs = 0;
  for (int s = 0; s < 8; ++s) {
    float big = 0;
    for (int l = 0; l < 32; ++l) if (std::fabs(x[32 * s + l]) > std::fabs(big)) big = x[32 * s + l];
    scale[s] = big / -127.f;
    max_abs = std::max(max_abs, std::fabs(scale[s]));
  }
  put_h(b, max_abs / 31.f);
  const float d = f16_at(b);
  uint16_t high = 0;
  std::memset(b + 4, 0, 4);
  for (int s = 0; s < 8; ++s) {
    const int ls = (d > 0 ? clamp(nearest(scale[s] / d), -32, 31) : 0) + 32;
    b[4 + s / 2] |= uint8_t((ls & 15) << (4 * (s % 2)));
    high |= uint16_t((ls >> 4) << (2 * s));
    pack_iq4(x + 32 * s, d * float(ls - 32), b + 8 + 16 * s);
  }
  std::memcpy(b + 2, &high, 2);
}

// Q2_K: per group of 16 as Q4_K per sub-block (a range holding 0, min and max to 0 and
// 3); the 16 scales and mins to 4 bits under d and dmin.
void q_q2_k(const float* x, uint8_t* b) {
  float scale[16], min[16], max_scale = 0, max_min = 0;
  for (int g = 0; g < 16; ++g) {
    float lo = 0, hi = 0;
    for (int l = 0; l < 16; ++l) lo = std::min(lo, x[16 * g + l]), hi = std::max(hi, x[16 * g + l]);
    scale[g] = (hi - lo) / 3.f;
    min[g] = -lo;
    max_scale = std::max(max_scale, scale[g]);
    max_min = std::max(max_min, min[g]);
  }
  put_h(b + 80, max_scale / 15.f);
  put_h(b + 82, max_min / 15.f);
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  std::memset(b + 16, 0, 64);
  for (int g = 0; g < 16; ++g) {
    const int sc = d > 0 ? clamp(nearest(scale[g] / d), 0, 15) : 0;
    const int m = dmin > 0 ? clamp(nearest(min[g] / dmin), 0, 15) : 0;
    b[g] = uint8_t(sc | m << 4);
    const float ds = d * float(sc), ms = dmin * float(m);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * g + l;
      const int v = ds > 0 ? clamp(nearest((x[i] + ms) / ds), 0, 3) : 0;
      b[16 + 32 * (i / 128) + i % 32] |= uint8_t(v << (2 * (i % 128 / 32)));
    }
  }
}

// Q3_K: per group of 16, the value of largest magnitude maps to −4; the 16 group scales
// to 6 bits (−32 .. 31) under d.
void q_q3_k(const float* x, uint8_t* b) {
  float scale[16];
  const float max_abs = signed_group_scales(x, 4.f, scale);
  put_h(b + 108, max_abs / 31.f);
  const float d = f16_at(b + 108);
  std::memset(b, 0, 108);
  for (int g = 0; g < 16; ++g) {
    const int sc = (d > 0 ? clamp(nearest(scale[g] / d), -32, 31) : 0) + 32;  // stored biased
    b[96 + g % 8] |= uint8_t((sc & 15) << (g < 8 ? 0 : 4));
    b[104 + g % 4] |= uint8_t((sc >> 4) << (2 * (g / 4)));
    const float ds = d * float(sc - 32);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * g + l;
      const int v = ds != 0 ? clamp(nearest(x[i] / ds) + 4, 0, 7) : 4;
      b[32 + 32 * (i / 128) + i % 32] |= uint8_t((v & 3) << (2 * (i % 128 / 32)));
      b[i % 32] |= uint8_t((v >> 2) << (i / 32));
    }
  }
}

}  // namespace

void dequantize_row(StoredType type, const void* src, float* dst, int64_t n) {
  if (!is_quantized(type)) {
    to_f32(dst, src, type, size_t(n));
    return;
  }
  const int64_t values = block_size(type);
  const size_t bytes = block_bytes(type);
  const uint8_t* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; i += values, b += bytes, dst += values) {
    switch (type) {
      case StoredType::Q8_0: dq_q8_0(b, dst); break;
      case StoredType::Q4_0: dq_q4(b, dst, false); break;
      case StoredType::Q4_1: dq_q4(b, dst, true); break;
      case StoredType::Q5_0: dq_q5(b, dst, false); break;
      case StoredType::Q5_1: dq_q5(b, dst, true); break;
      case StoredType::Q4_K: dq_k45(b, dst, false); break;
      case StoredType::Q5_K: dq_k45(b, dst, true); break;
      case StoredType::Q6_K: dq_q6_k(b, dst); break;
      case StoredType::IQ4_NL: dq_iq4(b + 2, f16_at(b), dst); break;
      case StoredType::IQ4_XS: dq_iq4_xs(b, dst); break;
      case StoredType::Q2_K: dq_q2_k(b, dst); break;
      case StoredType::Q3_K: dq_q3_k(b, dst); break;
      default: break;
    }
  }
}

void quantize_row(StoredType type, const float* src, void* dst, int64_t n) {
  if (!is_quantized(type)) {
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
      if (type == StoredType::F32) {
        std::memcpy(out + 4 * i, &src[i], 4);
      } else if (type == StoredType::F16) {
        put_h(out + 2 * i, src[i]);
      } else {  // BF16, rounded to nearest even
        uint32_t bits;
        std::memcpy(&bits, &src[i], 4);
        const uint16_t v = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
        std::memcpy(out + 2 * i, &v, 2);
      }
    }
    return;
  }
  const int64_t values = block_size(type);
  const size_t bytes = block_bytes(type);
  uint8_t* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; i += values, b += bytes, src += values) {
    switch (type) {
      case StoredType::Q8_0: q_q8_0(src, b); break;
      case StoredType::Q4_0: q_symmetric(src, b, 4); break;
      case StoredType::Q5_0: q_symmetric(src, b, 5); break;
      case StoredType::Q4_1: q_affine(src, b, 4); break;
      case StoredType::Q5_1: q_affine(src, b, 5); break;
      case StoredType::Q4_K: q_k45(src, b, false); break;
      case StoredType::Q5_K: q_k45(src, b, true); break;
      case StoredType::Q6_K: q_q6_k(src, b); break;
      case StoredType::IQ4_NL: q_iq4_nl(src, b); break;
      case StoredType::IQ4_XS: q_iq4_xs(src, b); break;
      case StoredType::Q2_K: q_q2_k(src, b); break;
      case StoredType::Q3_K: q_q3_k(src, b); break;
      default: break;
    }
  }
}

}  // namespace tramontane::cpu
