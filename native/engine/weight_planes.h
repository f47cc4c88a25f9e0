// The layout the CUDA backend keeps block-quantized weights in on the GPU ("planes"),
// made on the host from a file's blocks. Every supported block format becomes unsigned
// integer codes plus, per group of 16 or 32 values, a scale s (and, for the formats
// with a min, an offset m), so that each value is
//
//     v = s·code + m,       m = −bias·s for the symmetric formats (Q8_0, Q4_0, Q5_0, Q6_K)
//
// and a row's codes, high bits and scales sit in three row-major arrays that a GPU
// reads with aligned, coalesced loads; the kernels turn 8 codes into 8 f16 values in
// registers (cuda/weight_formats.cuh). Bytes per value stay close to the file's:
//
//   type   bits group  file bpw  planes bpw
//   Q8_0    8    32     8.5       8.5      code = q + 128, s = d
//   Q4_0    4    32     4.5       4.5      s = d, bias 8
//   Q4_1    4    32     5.0       5.0      s = d, m = m
//   Q5_0    5    32     5.5       5.5      s = d, bias 16
//   Q5_1    5    32     6.0       6.0
//   Q4_K    4    32     4.5       5.0      s = d·sc, m = −dmin·min (f16-rounded)
//   Q5_K    5    32     5.5       6.0
//   Q6_K    6    16     6.56      7.0      s = d·scale (f16-rounded), bias 32
//
// The K formats' per-group s and m are rounded to f16 once here (a relative 2⁻¹² on
// average, finer than the f16 rounding every weight gets on the GPU): the kernels then
// need no 6-bit scale unpacking per group. IQ4_NL and IQ4_XS (a table of levels, not a
// linear code) and Q2_K and Q3_K (rarely used, groups of 16 with 4- or 6-bit scales)
// have no plane form: the GPU holds them as f16.
//
// Order of the codes, per run of 8 values v0..v7 of a row (so that one shift and mask
// yields the f16 pair (v2i, v2i+1) for i = 0..3):
//   8-bit: bytes v0..v7.
//   4-bit low nibbles (4, 5, 6 bits), one 32-bit word: bits 4i..4i+3 hold v2i,
//          bits 16+4i.. hold v2i+1.
//   5th bit (5-bit codes), one byte: bit i is v2i's, bit 4+i is v2i+1's.
//   bits 4-5 (6-bit codes), 16 bits: bits 2i..2i+1 are v2i's, bits 8+2i.. are v2i+1's.
// e.g. 4-bit codes 1,2,3,4,5,6,7,8 → word 0x86427531.
//
// Order of the runs, per unit of 128 values (16 runs) of a row: a GPU lane reads runs
// 4u + t (u = 0..3) of a unit, so run 4u + t is stored at place 4t + u: each lane's four
// runs are one 16- or 32-byte load, and the four lanes of a row read one whole stretch.
// Rows are therefore a whole number of units (cols a multiple of 128: plane_form_fits).
// e.g. 4-bit: values 8..15 (run 1: u = 0, t = 1) are the word at byte 16 of the unit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor.h"

namespace tramontane {

struct PlaneFormat {
  int bits = 0;         // 4, 5, 6 or 8
  int group = 0;        // values per scale: 16 or 32
  bool affine = false;  // scales hold (s, m); else s alone and m = −bias·s
  int bias = 0;         // symmetric formats: 2^(bits−1)
};

// Whether a stored type has a plane form, and which; whether rows of `cols` values can
// take it (a whole number of 128-value units).
bool has_plane_format(StoredType t);
bool plane_form_fits(StoredType t, int64_t cols);
PlaneFormat plane_format(StoredType t);  // throws Error for a type without one

// Bytes per row of each plane for rows of `cols` values (cols a multiple of the block).
struct PlaneRowBytes {
  size_t codes = 0;   // the 8-bit codes or the 4-bit low nibbles
  size_t high = 0;    // the 5th bit or bits 4-5 (0 for 4- and 8-bit codes)
  size_t scales = 0;  // f16 s per group, or f16 (s, m) pairs
};
PlaneRowBytes plane_row_bytes(const PlaneFormat& f, int64_t cols);

// Repacks `rows` rows of blocks (row_bytes(type, cols) each, contiguous) into the three
// planes, each [rows][its row bytes].
void to_planes(StoredType type, const void* blocks, int64_t rows, int64_t cols, uint8_t* codes,
               uint8_t* high, uint16_t* scales);

// One row back to values as the GPU computes them: f16(s·code + m) with s and m f16,
// rounded once (an fused multiply-add in f16). For tests of the layout and the kernels.
void planes_row_to_f16(const PlaneFormat& f, const uint8_t* codes, const uint8_t* high,
                       const uint16_t* scales, int64_t cols, uint16_t* out);

}  // namespace tramontane
