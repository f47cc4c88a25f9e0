#include "weight_planes.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "convert.h"
#include "quant_blocks.h"
#include "tramontane/engine.h"

namespace tramontane {
namespace {

float half_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return cpu::f16_to_f32(v);
}

// One block → its codes (block_size values) and, per group, s and m (m only for the
// affine formats). The formulas are those of cpu/quant_blocks.h.
void block_codes(StoredType type, const uint8_t* b, uint8_t* code, float* s, float* m) {
  switch (type) {
    case StoredType::Q8_0:
      s[0] = half_at(b);
      for (int i = 0; i < 32; ++i) code[i] = uint8_t(int(int8_t(b[2 + i])) + 128);
      return;
    case StoredType::Q4_0:
    case StoredType::Q4_1: {
      const bool with_min = type == StoredType::Q4_1;
      s[0] = half_at(b);
      if (with_min) m[0] = half_at(b + 2);
      const uint8_t* qs = b + (with_min ? 4 : 2);
      for (int j = 0; j < 16; ++j) {
        code[j] = qs[j] & 15;
        code[j + 16] = qs[j] >> 4;
      }
      return;
    }
    case StoredType::Q5_0:
    case StoredType::Q5_1: {
      const bool with_min = type == StoredType::Q5_1;
      s[0] = half_at(b);
      if (with_min) m[0] = half_at(b + 2);
      const uint8_t* p = b + (with_min ? 4 : 2);
      uint32_t qh;
      std::memcpy(&qh, p, 4);
      const uint8_t* qs = p + 4;
      for (int j = 0; j < 16; ++j) {
        code[j] = uint8_t((qs[j] & 15) | ((qh >> j) & 1) << 4);
        code[j + 16] = uint8_t((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
      }
      return;
    }
    case StoredType::Q4_K:
    case StoredType::Q5_K: {
      const bool five = type == StoredType::Q5_K;
      const float d = half_at(b), dmin = half_at(b + 2);
      const uint8_t* qh = five ? b + 16 : nullptr;
      const uint8_t* qs = b + (five ? 48 : 16);
      for (int sub = 0; sub < 8; ++sub) {
        int sc, mn;
        cpu::k_scale_min(b + 4, sub, sc, mn);
        s[sub] = d * float(sc);
        m[sub] = -(dmin * float(mn));
        const int c = sub / 2;
        for (int l = 0; l < 32; ++l) {
          int q = sub % 2 ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
          if (qh) q |= ((qh[l] >> sub) & 1) << 4;
          code[32 * sub + l] = uint8_t(q);
        }
      }
      return;
    }
    case StoredType::Q6_K: {
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
      const float d = half_at(b + 208);
      for (int g = 0; g < 16; ++g) s[g] = d * float(sc[g]);
      for (int half = 0; half < 2; ++half) {
        const uint8_t* l4 = ql + 64 * half;
        const uint8_t* h2 = qh + 32 * half;
        uint8_t* out = code + 128 * half;
        for (int l = 0; l < 32; ++l) {
          out[l] = uint8_t((l4[l] & 15) | ((h2[l] >> 0) & 3) << 4);
          out[l + 32] = uint8_t((l4[l + 32] & 15) | ((h2[l] >> 2) & 3) << 4);
          out[l + 64] = uint8_t((l4[l] >> 4) | ((h2[l] >> 4) & 3) << 4);
          out[l + 96] = uint8_t((l4[l + 32] >> 4) | ((h2[l] >> 6) & 3) << 4);
        }
      }
      return;
    }
    default:
      throw Error(std::string(stored_type_name(type)) + " has no GPU plane form");
  }
}

// Where run `run` of a row (values 8·run ..) is stored: run 4u + t of a 128-value unit
// goes to place 4t + u (the header's "Order of the runs").
int64_t stored_run(int64_t run) {
  const int64_t unit = run / 16, r = run % 16;
  return unit * 16 + (r % 4) * 4 + r / 4;
}

// 8 codes → their place in the planes (see the header's "Order of the codes").
void pack8(const PlaneFormat& f, const uint8_t* c, uint8_t* codes, uint8_t* high) {
  if (f.bits == 8) {
    std::memcpy(codes, c, 8);
    return;
  }
  uint32_t word = 0;
  for (int i = 0; i < 4; ++i) {
    word |= uint32_t(c[2 * i] & 15) << (4 * i);
    word |= uint32_t(c[2 * i + 1] & 15) << (16 + 4 * i);
  }
  std::memcpy(codes, &word, 4);  // little-endian, as the GPU reads it
  if (f.bits == 5) {
    uint8_t h = 0;
    for (int i = 0; i < 4; ++i) {
      h |= uint8_t(((c[2 * i] >> 4) & 1) << i);
      h |= uint8_t(((c[2 * i + 1] >> 4) & 1) << (4 + i));
    }
    high[0] = h;
  } else if (f.bits == 6) {
    uint16_t h = 0;
    for (int i = 0; i < 4; ++i) {
      h |= uint16_t(((c[2 * i] >> 4) & 3) << (2 * i));
      h |= uint16_t(((c[2 * i + 1] >> 4) & 3) << (8 + 2 * i));
    }
    std::memcpy(high, &h, 2);
  }
}

// Round to nearest even f16 from a double holding the exact value (s·code + m needs
// more than fp32's 24 bits), as the GPU's f16 fma rounds it: one rounding.
uint16_t f64_to_f16(double x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (std::isnan(x)) return uint16_t(sign | 0x7e00);
  if (a >= 65520.0) return uint16_t(sign | 0x7c00);
  if (a < 6.103515625e-05) return uint16_t(sign | uint16_t(std::nearbyint(a * 16777216.0)));
  int exponent;
  const double mantissa = std::frexp(a, &exponent);  // [0.5, 1)
  uint32_t m = uint32_t(std::nearbyint(mantissa * 2048.0));
  if (m == 2048) {
    m = 1024;
    ++exponent;
  }
  const uint32_t e = uint32_t(exponent - 1 + 15);
  if (e >= 31) return uint16_t(sign | 0x7c00);
  return uint16_t(sign | (e << 10) | (m - 1024));
}

uint8_t code_at(const PlaneFormat& f, const uint8_t* codes, const uint8_t* high, int64_t i) {
  const int64_t run = stored_run(i / 8);
  if (f.bits == 8) return codes[run * 8 + i % 8];
  const int j = int(i % 8), pair = j / 2, odd = j % 2;
  uint32_t word;
  std::memcpy(&word, codes + 4 * run, 4);
  int c = int(word >> (4 * pair + 16 * odd)) & 15;
  if (f.bits == 5) c |= ((high[run] >> (pair + 4 * odd)) & 1) << 4;
  if (f.bits == 6) {
    uint16_t h;
    std::memcpy(&h, high + 2 * run, 2);
    c |= ((h >> (2 * pair + 8 * odd)) & 3) << 4;
  }
  return uint8_t(c);
}

}  // namespace

bool plane_form_fits(StoredType t, int64_t cols) { return has_plane_format(t) && cols % 128 == 0; }

bool has_plane_format(StoredType t) {
  switch (t) {
    case StoredType::Q8_0: case StoredType::Q4_0: case StoredType::Q4_1: case StoredType::Q5_0:
    case StoredType::Q5_1: case StoredType::Q4_K: case StoredType::Q5_K: case StoredType::Q6_K:
      return true;
    default:
      return false;
  }
}

PlaneFormat plane_format(StoredType t) {
  switch (t) {
    case StoredType::Q8_0: return {8, 32, false, 128};
    case StoredType::Q4_0: return {4, 32, false, 8};
    case StoredType::Q4_1: return {4, 32, true, 0};
    case StoredType::Q5_0: return {5, 32, false, 16};
    case StoredType::Q5_1: return {5, 32, true, 0};
    case StoredType::Q4_K: return {4, 32, true, 0};
    case StoredType::Q5_K: return {5, 32, true, 0};
    case StoredType::Q6_K: return {6, 16, false, 32};
    default: throw Error(std::string(stored_type_name(t)) + " has no GPU plane form");
  }
}

PlaneRowBytes plane_row_bytes(const PlaneFormat& f, int64_t cols) {
  PlaneRowBytes r;
  r.codes = size_t(f.bits == 8 ? cols : cols / 2);
  r.high = size_t(f.bits == 5 ? cols / 8 : f.bits == 6 ? cols / 4 : 0);
  r.scales = size_t(cols / f.group) * (f.affine ? 4 : 2);
  return r;
}

void to_planes(StoredType type, const void* blocks, int64_t rows, int64_t cols, uint8_t* codes,
               uint8_t* high, uint16_t* scales) {
  const PlaneFormat f = plane_format(type);
  if (cols % 128 != 0) throw Error("GPU planes need rows of whole 128-value units");
  const PlaneRowBytes rb = plane_row_bytes(f, cols);
  const int64_t bs = block_size(type);
  const size_t bb = block_bytes(type);
  const int groups_per_block = int(bs / f.group);
  const uint8_t* src = static_cast<const uint8_t*>(blocks);
  uint8_t code[256];
  float s[16], m[16];
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* codes_row = codes + size_t(r) * rb.codes;
    uint8_t* high_row = high ? high + size_t(r) * rb.high : nullptr;
    uint16_t* scales_row = scales + size_t(r) * rb.scales / 2;
    for (int64_t blk = 0; blk < cols / bs; ++blk) {
      block_codes(type, src + size_t(r) * row_bytes(type, cols) + size_t(blk) * bb, code, s, m);
      for (int64_t run = 0; run < bs / 8; ++run) {
        const int64_t place = stored_run((blk * bs) / 8 + run);  // runs of 8 in the row
        pack8(f, code + run * 8, codes_row + place * (f.bits == 8 ? 8 : 4),
              high_row ? high_row + place * (f.bits == 5 ? 1 : 2) : nullptr);
      }
      for (int g = 0; g < groups_per_block; ++g) {
        const int64_t group = blk * groups_per_block + g;
        if (f.affine) {
          scales_row[2 * group] = cpu::f32_to_f16(s[g]);
          scales_row[2 * group + 1] = cpu::f32_to_f16(m[g]);
        } else {
          scales_row[group] = cpu::f32_to_f16(s[g]);
        }
      }
    }
  }
}

void planes_row_to_f16(const PlaneFormat& f, const uint8_t* codes, const uint8_t* high,
                       const uint16_t* scales, int64_t cols, uint16_t* out) {
  for (int64_t i = 0; i < cols; ++i) {
    const int64_t g = i / f.group;
    const double s = cpu::f16_to_f32(f.affine ? scales[2 * g] : scales[g]);
    // m = −bias·s is exact in f16 (bias is a power of two), as the GPU computes it.
    const double m = f.affine ? double(cpu::f16_to_f32(scales[2 * g + 1])) : -double(f.bias) * s;
    out[i] = f64_to_f16(s * double(code_at(f, codes, high, i)) + m);
  }
}

}  // namespace tramontane
