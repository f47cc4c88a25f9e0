// The 8-bit activation dot products in plain C++: the definition the SIMD kernels
// reproduce bit for bit (quant_dot.h gives the order). Each block's integer sums are
// exact; its fp32 terms are computed as written below, then added to the accumulators.
#include <cstring>

#include "convert.h"
#include "quant_blocks.h"
#include "quant_dot.h"

namespace tramontane::cpu {

namespace {

// The 32 signed weight levels of a block of a 32-value format, in value order, and its
// min (0 for the formats without one).
template <StoredType type>
void levels_32(const uint8_t* w, int8_t (&q)[32], float& min) {
  const uint8_t* qs = w + 2;
  const uint8_t* qh = nullptr;
  int offset = 0;
  min = 0.f;
  switch (type) {  // known at compile time: one loop per format
    case StoredType::Q8_0:
      std::memcpy(q, w + 2, 32);
      return;
    case StoredType::Q4_0: offset = 8; break;
    case StoredType::Q5_0: qh = w + 2, qs = w + 6, offset = 16; break;
    case StoredType::Q4_1: qs = w + 4, min = f16_at(w + 2); break;
    case StoredType::Q5_1: qh = w + 4, qs = w + 8, min = f16_at(w + 2); break;
    default: break;  // IQ4_NL
  }
  uint32_t high = 0;
  if (qh) std::memcpy(&high, qh, 4);
  for (int j = 0; j < 16; ++j) {
    if (type == StoredType::IQ4_NL) {
      q[j] = int8_t(kIq4Levels[qs[j] & 15]), q[j + 16] = int8_t(kIq4Levels[qs[j] >> 4]);
      continue;
    }
    q[j] = int8_t(((qs[j] & 15) | int((high >> j) & 1) << 4) - offset);
    q[j + 16] = int8_t(((qs[j] >> 4) | int((high >> (j + 16)) & 1) << 4) - offset);
  }
}

template <StoredType type>
float dot_32(const uint8_t* w, const Q8Block* x, int64_t blocks) {
  const int bytes = int(block_bytes(type));
  float acc[8] = {}, min_acc = 0.f;
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    const Q8Block& xb = x[b];
    int8_t q[32];
    float min;
    levels_32<type>(w, q, min);
    // Written as loops the compiler vectorizes: products (each fits 16 bits), the sums
    // of each 4, then the eight fp32 lanes.
    int16_t product[32];
    for (int i = 0; i < 32; ++i) product[i] = int16_t(q[i] * xb.q[i]);
    int32_t lane[8];
    for (int k = 0; k < 8; ++k) {
      lane[k] = int32_t(product[4 * k]) + product[4 * k + 1] + product[4 * k + 2] + product[4 * k + 3];
    }
    const float scale = f16_at(w) * xb.d;
    for (int k = 0; k < 8; ++k) acc[k] = acc[k] + float(lane[k]) * scale;
    if (type == StoredType::Q4_1 || type == StoredType::Q5_1) min_acc = min_acc + (min * xb.d) * float(xb.sum);
  }
  return (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) + min_acc;
}

float dot_32(StoredType type, const uint8_t* w, const Q8Block* x, int64_t blocks) {
  switch (type) {
    case StoredType::Q8_0: return dot_32<StoredType::Q8_0>(w, x, blocks);
    case StoredType::Q4_0: return dot_32<StoredType::Q4_0>(w, x, blocks);
    case StoredType::Q5_0: return dot_32<StoredType::Q5_0>(w, x, blocks);
    case StoredType::Q4_1: return dot_32<StoredType::Q4_1>(w, x, blocks);
    case StoredType::Q5_1: return dot_32<StoredType::Q5_1>(w, x, blocks);
    default: return dot_32<StoredType::IQ4_NL>(w, x, blocks);
  }
}


// Lane k of a super-block sums the scaled products of the values i with (i mod 32) / 4
// = k, less the correction of sub-block k (values 32k .. 32k + 31): its mins (Q4_K, Q5_K,
// Q2_K) or the offset of its values (−32 for Q6_K, −4 for Q3_K). Written as loops the
// compiler vectorizes: the scaled products of each slice of 32 values are summed position
// by position (exact integers), then each 4 positions make a lane.
template <StoredType type>
float dot_k(const uint8_t* w, const Q8KBlock* x, int64_t blocks) {
  const int bytes = int(block_bytes(type));
  float acc[8] = {};
  for (int64_t b = 0; b < blocks; ++b, w += bytes) {
    const Q8KBlock& xb = x[b];
    int32_t position[32] = {}, correction[8] = {};
    float d = 0.f, dmin = 0.f;
    for (int s = 0; s < 8; ++s) {
      uint8_t q[32];  // the stored values of slice s (Q6_K before its −32; IQ4_XS: nibbles)
      int32_t scale[32];
      const int8_t* xs = xb.q + 32 * s;
      if constexpr (type == StoredType::IQ4_XS) {
        uint16_t high;
        std::memcpy(&high, w + 2, 2);
        const int ls = ((w[4 + s / 2] >> (4 * (s % 2))) & 15) | ((high >> (2 * s)) & 3) << 4;
        int8_t level[32];
        for (int l = 0; l < 32; ++l) {
          const uint8_t byte = w[8 + 16 * s + l % 16];
          level[l] = kIq4Levels[l < 16 ? byte & 15 : byte >> 4];
        }
        for (int l = 0; l < 32; ++l) position[l] += (ls - 32) * int16_t(level[l] * xs[l]);
        continue;
      }
      if constexpr (type == StoredType::Q2_K || type == StoredType::Q3_K) {
        constexpr bool three = type == StoredType::Q3_K;  // quant_blocks.h: slice s is n = s / 4, j = s % 4
        const uint8_t* qs = w + (three ? 32 : 16) + 32 * (s / 4);
        const int group[2] = {three ? q3_k_scale(w + 96, 2 * s) : w[2 * s] & 15,
                              three ? q3_k_scale(w + 96, 2 * s + 1) : w[2 * s + 1] & 15};
        for (int l = 0; l < 32; ++l) {
          q[l] = uint8_t(((qs[l] >> (2 * (s % 4))) & 3) | (three ? ((w[l] >> s) & 1) << 2 : 0));
          scale[l] = group[l / 16];
        }
        if constexpr (three) {
          correction[s] = 4 * (group[0] * xb.sums[2 * s] + group[1] * xb.sums[2 * s + 1]);
        } else {
          correction[s] = (w[2 * s] >> 4) * xb.sums[2 * s] + (w[2 * s + 1] >> 4) * xb.sums[2 * s + 1];
        }
      } else if constexpr (type == StoredType::Q6_K) {
        const int half = s / 4, k = s % 4;  // quant_blocks.h: quarter k of half `half`
        const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
        for (int l = 0; l < 32; ++l) {
          const uint8_t lo = w[64 * half + (k % 2) * 32 + l];
          q[l] = uint8_t((k < 2 ? lo & 15 : lo >> 4) | ((w[128 + 32 * half + l] >> (2 * k)) & 3) << 4);
          scale[l] = sc[2 * s + l / 16];
        }
      } else {
        constexpr bool five = type == StoredType::Q5_K;
        const uint8_t* qs = w + (five ? 48 : 16) + 32 * (s / 2);
        int sc, m;
        k_scale_min(w + 4, s, sc, m);
        for (int l = 0; l < 32; ++l) {
          q[l] = uint8_t((s % 2 ? qs[l] >> 4 : qs[l] & 15) | (five ? ((w[16 + l] >> s) & 1) << 4 : 0));
          scale[l] = sc;
        }
        correction[s] = m * (xb.sums[2 * s] + xb.sums[2 * s + 1]);
      }
      for (int l = 0; l < 32; ++l) position[l] += scale[l] * int16_t(q[l] * xs[l]);  // q · x fits 16 bits
    }
    int32_t lane[8];
    for (int k = 0; k < 8; ++k) lane[k] = position[4 * k] + position[4 * k + 1] + position[4 * k + 2] + position[4 * k + 3];
    if constexpr (type == StoredType::Q6_K) {
      const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
      for (int k = 0; k < 8; ++k) correction[k] = 32 * (sc[2 * k] * xb.sums[2 * k] + sc[2 * k + 1] * xb.sums[2 * k + 1]);
      d = f16_at(w + 208);
    } else if constexpr (type == StoredType::Q2_K) {
      d = f16_at(w + 80), dmin = f16_at(w + 82);
    } else if constexpr (type == StoredType::Q3_K) {
      d = f16_at(w + 108);
    } else {
      d = f16_at(w);
      if (type != StoredType::IQ4_XS) dmin = f16_at(w + 2);
    }
    const float scale = xb.d * d, min_scale = xb.d * dmin;
    for (int k = 0; k < 8; ++k) {
      float term;
      if constexpr (type == StoredType::Q4_K || type == StoredType::Q5_K || type == StoredType::Q2_K) {
        term = float(lane[k]) * scale - float(correction[k]) * min_scale;
      } else {
        term = float(lane[k] - correction[k]) * scale;
      }
      acc[k] = acc[k] + term;
    }
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

float dot_k(StoredType type, const uint8_t* w, const Q8KBlock* x, int64_t blocks) {
  switch (type) {  // one loop per format
    case StoredType::Q4_K: return dot_k<StoredType::Q4_K>(w, x, blocks);
    case StoredType::Q5_K: return dot_k<StoredType::Q5_K>(w, x, blocks);
    case StoredType::Q6_K: return dot_k<StoredType::Q6_K>(w, x, blocks);
    case StoredType::Q2_K: return dot_k<StoredType::Q2_K>(w, x, blocks);
    case StoredType::Q3_K: return dot_k<StoredType::Q3_K>(w, x, blocks);
    default: return dot_k<StoredType::IQ4_XS>(w, x, blocks);
  }
}

}  // namespace

float dot_scalar(StoredType type, const uint8_t* w, const void* xq, int64_t blocks) {
  if (block_size(type) == 256) return dot_k(type, w, static_cast<const Q8KBlock*>(xq), blocks);
  return dot_32(type, w, static_cast<const Q8Block*>(xq), blocks);
}

void dot_tile_scalar(StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq,
                     size_t x_stride, int tokens, int64_t blocks, float* out, size_t out_stride) {
  const uint8_t* x = static_cast<const uint8_t*>(xq);
  for (int t = 0; t < tokens; ++t) {
    for (int r = 0; r < rows; ++r) {
      out[size_t(t) * out_stride + size_t(r)] =
          dot_scalar(weights, w + size_t(r) * w_stride, x + size_t(t) * x_stride, blocks);
    }
  }
}

}  // namespace tramontane::cpu
