// GGUF's block-quantized weight formats: how a row's bytes become values (the
// readable reference every fast path is checked against), and a reference quantizer
// for round-trip tests and for writing test and benchmark files.
//
// A row is a whole number of blocks; each block holds its values and its scales.
// `d` and `dmin` are IEEE halves (f16), little-endian. Value i of a block:
//
// Q8_0 (32 values, 34 bytes):  d | qs[32] int8           v[i] = d·qs[i]
//   e.g. d = 0.5, qs[3] = −6  →  v[3] = −3.0
// Q4_0 (32 values, 18 bytes):  d | qs[16]                 v[j] = d·((qs[j] & 15) − 8)
//                                                         v[j+16] = d·((qs[j] >> 4) − 8)
//   e.g. d = 0.5, qs[0] = 0x3A  →  v[0] = 0.5·(10 − 8) = 1.0, v[16] = 0.5·(3 − 8) = −2.5
// Q4_1 (32, 20):  d | m | qs[16]                         v = d·nibble + m (nibbles as Q4_0)
// Q5_0 (32, 22):  d | qh u32 | qs[16]                    v[j] = d·((qs[j] & 15 | bit j of qh << 4) − 16)
//                                                         v[j+16] = d·((qs[j] >> 4 | bit j+16 of qh << 4) − 16)
//   e.g. d = 1, qs[0] = 0x0F, qh bit 0 set  →  v[0] = (15 | 16) − 16 = 15
// Q5_1 (32, 24):  d | m | qh u32 | qs[16]                v = d·(5-bit value) + m
//
// The K formats group 256 values into a super-block of 8 sub-blocks of 32 (Q6_K: 16 of
// 16), each with its own small integer scale, multiplied by the super-block's f16 scale.
// Q4_K (256, 144):  d | dmin | scales[12] | qs[128]
//   Sub-block s (values 32s .. 32s+31) has a 6-bit scale sc[s] and a 6-bit min m[s],
//   packed in scales[12]:  s < 4:  sc = scales[s] & 63,  m = scales[s+4] & 63
//                          s ≥ 4:  sc = (scales[s+4] & 15) | (scales[s−4] >> 6) << 4
//                                  m  = (scales[s+4] >> 4) | (scales[s]   >> 6) << 4
//   Values come in 4 chunks of 64: chunk c reads qs[32c .. 32c+31]; the low nibbles are
//   sub-block 2c, the high nibbles sub-block 2c+1.  v = d·sc[s]·q − dmin·m[s].
//   e.g. value 70 is chunk 1, sub-block 2 (low nibble of qs[32 + 6]); with d = 0.01,
//   sc[2] = 20, q = 9, dmin = 0.02, m[2] = 5: v = 0.01·20·9 − 0.02·5 = 1.7
// Q5_K (256, 176):  d | dmin | scales[12] | qh[32] | qs[128]
//   As Q4_K with a fifth bit: value 32s + l takes bit s of qh[l] as 16.
// Q6_K (256, 210):  ql[128] | qh[64] | scales[16] int8 | d
//   Two halves of 128 values; half h reads ql[64h ..], qh[32h ..]. For l < 32:
//     v[128h + l]      low nibble of ql[64h + l]      | (qh[32h + l] >> 0 & 3) << 4
//     v[128h + 32 + l] low nibble of ql[64h + 32 + l] | (qh[32h + l] >> 2 & 3) << 4
//     v[128h + 64 + l] high nibble of ql[64h + l]     | (qh[32h + l] >> 4 & 3) << 4
//     v[128h + 96 + l] high nibble of ql[64h + 32 + l]| (qh[32h + l] >> 6 & 3) << 4
//   each minus 32, times d·scales[i / 16] for value i.
//
// The non-linear 4-bit formats map each nibble through a 16-entry table of int8 levels
// (kIq4Levels: −127, −104, … 89, 113, denser near 0):
// IQ4_NL (32, 18):  d | qs[16]        nibbles as Q4_0;  v = d·levels[nibble]
//   e.g. d = 0.5, qs[0] = 0x3A  →  v[0] = 0.5·levels[10] = 12.5, v[16] = 0.5·levels[3] = −32.5
// IQ4_XS (256, 136):  d | scales_h u16 | scales_l[4] | qs[128]
//   Sub-block s (values 32s ..) has a 6-bit scale ls = (scales_l[s/2] >> 4·(s%2) & 15)
//   | (scales_h >> 2s & 3) << 4 and reads qs[16s .. 16s+15] as IQ4_NL does;
//   v = d·(ls − 32)·levels[nibble].
//
// The low-bit K formats have 16 groups of 16 values. The 2 low bits of value
// i = 128n + 32j + l (l < 32) are bits 2j, 2j+1 of qs[32n + l]; group g = i / 16.
// Q2_K (256, 84):  scales[16] | qs[64] | d | dmin
//   scales[g] holds the group's 4-bit scale sc (low nibble) and min m (high nibble);
//   v = d·sc·q − dmin·m.
//   e.g. value 40 is n = 0, j = 1, l = 8: bits 2, 3 of qs[8]; group 2; with d = 0.5,
//   scales[2] = 0x13, q = 2, dmin = 0.25: v = 0.5·3·2 − 0.25·1 = 2.75
// Q3_K (256, 110):  hmask[32] | qs[64] | scales[12] | d
//   A third bit: value i takes bit i / 32 of hmask[i % 32] as 4; the 3-bit value less 4
//   (−4 .. 3). Group g's 6-bit scale s6: its low 4 bits are the low nibble of scales[g]
//   (g < 8) or the high nibble of scales[g − 8], its high 2 bits are bits 2·(g / 4) and
//   2·(g / 4) + 1 of scales[8 + g % 4]. v = d·(s6 − 32)·(q − 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "convert.h"
#include "tensor.h"

namespace tramontane::cpu {

// The f16 stored at p (a block's scale or minimum, little-endian), as fp32: exact.
inline float f16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return f16_to_f32(v);
}

extern const int8_t kIq4Levels[16];

// fp32 → f16, rounded to nearest even (overflow → inf).
uint16_t f32_to_f16(float x);

// The 6-bit scale and min of sub-block s (0..7) of a Q4_K / Q5_K block, from its
// scales[12] (the packing in the header above).
void k_scale_min(const uint8_t* scales, int s, int& sc, int& m);
// The signed scale (−32 .. 31) of group g (0..15) of a Q3_K block, from its scales[12].
int q3_k_scale(const uint8_t* scales, int g);

// The values of n consecutive weights (n a multiple of the block size) as fp32.
// Every value is computed exactly as the formulas above say, in fp32.
void dequantize_row(StoredType type, const void* src, float* dst, int64_t n);

// n values into blocks (n a multiple of the block size). A plain, readable quantizer
// (per block: the scale from the largest magnitude or the min/max, rounding to
// nearest), not llama.cpp's error-minimising search: its files round-trip within the
// format's precision, which is what tests and benchmarks need.
void quantize_row(StoredType type, const float* src, void* dst, int64_t n);

}  // namespace tramontane::cpu
