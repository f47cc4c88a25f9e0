// How kernels read a weight matrix: 8 consecutive values of a row at a time, as 8 f16
// in registers, whatever the matrix is stored as on the device (DeviceMatrix):
//
//   F16Rows            f16 rows: one 16-byte load, nothing to compute;
//   PlaneRows<b, g, a> a block-quantized format in its plane form
//                      (engine/weight_planes.h): b-bit codes, a scale per g values
//                      (and an offset when a): 4–8 bytes of codes, a byte or two of
//                      high bits and one scale per run of 8, turned into f16 with
//                      integer shifts, one exact f16 subtraction and one f16 fma.
//
// Both give the same interface, so one kernel body serves every format:
//   Cursor row(int r, int lane_run) : where run `lane_run` (0..3) of every 32-value step
//                                     of row r starts (values 32s + 8·lane_run ..);
//   Raw load(const Cursor&, int s)  : the stored bytes of that run in step s;
//   kUnit, load_unit(c, s, Raw*)    : the runs of kUnit steps from s (a multiple of
//                                     kUnit) at once: 1 step for f16 (16 bytes), 4 for
//                                     the planes, whose runs are stored so that a lane's
//                                     four are one 16- or 32-byte load;
//   uint4 expand(const Raw&)        : the 8 values as f16 pairs, (v0,v1) in .x .. (v6,v7)
//                                     in .w;
//   Raw{} expands to values whose product with a zero input is zero.
#pragma once

#include <cstdint>

#include <string>

#include "common.cuh"
#include "device_matrix.h"

namespace tramontane::cuda {

// Loads of data read once (weight codes): L1 bypassed, L2 brings in 256-byte blocks.
__device__ __forceinline__ uint2 ld_stream_u2(const void* ptr) {
  uint2 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v2.u32 {%0, %1}, [%2];"
               : "=r"(v.x), "=r"(v.y)
               : "l"(ptr));
  return v;
}
__device__ __forceinline__ uint32_t ld_stream_u32(const void* ptr) {
  uint32_t v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.u32 %0, [%1];" : "=r"(v) : "l"(ptr));
  return v;
}

struct F16Rows {
  const f16* w;  // [rows][K]
  int K;

  static constexpr int kUnit = 1;
  using Cursor = const f16*;
  using Raw = uint4;
  __device__ Cursor row(int r, int lane_run) const { return w + size_t(r) * K + 8 * lane_run; }
  __device__ Raw load(Cursor c, int s) const { return ld_stream(c + 32 * s); }
  __device__ void load_unit(Cursor c, int s, Raw* out) const { out[0] = load(c, s); }
  __device__ uint4 expand(const Raw& r) const { return r; }
};

template <int kBits, int kGroup, bool kAffine>
struct PlaneRows {
  static_assert(kBits == 4 || kBits == 5 || kBits == 6 || kBits == 8, "code width");
  static_assert(kGroup == 16 || kGroup == 32, "group size");
  static constexpr int kBias = kAffine ? 0 : 1 << (kBits - 1);
  static constexpr int kUnit = 4;  // steps per load: a 128-value unit of the row
  // Bytes of one run of 8 codes and of one unit, in the code and high-bit planes.
  static constexpr int kRunBytes = kBits == 8 ? 8 : 4;
  static constexpr int kHighRunBytes = kBits == 5 ? 1 : kBits == 6 ? 2 : 0;

  const uint8_t* codes;    // [rows][K · kBits≥8 ? 1 : ½] bytes, runs in unit order
  const uint8_t* high;     // [rows][K / 8] (5-bit) or [rows][K / 4] (6-bit)
  const uint16_t* scales;  // [rows][K / kGroup] f16 s, or f16 (s, m) pairs
  int K;

  struct Cursor {
    const uint8_t* codes;   // the lane's first run in unit 0
    const uint8_t* high;
    const uint16_t* scales;  // the row's first group
    int run;                 // lane_run: which 8 of each 32 values
  };
  struct Raw {
    uint32_t lo[kBits == 8 ? 2 : 1];
    uint32_t hi;
    uint32_t sm;  // f16 s (low half) and, when affine, f16 m (high half)
  };

  // Run 4u + t of a unit is stored at place 4t + u (engine/weight_planes.h).
  __device__ Cursor row(int r, int lane_run) const {
    Cursor c;
    c.codes = codes + size_t(r) * (K / 8) * kRunBytes + 4 * lane_run * kRunBytes;
    c.high = kHighRunBytes ? high + size_t(r) * (K / 8) * kHighRunBytes + 4 * lane_run * kHighRunBytes
                           : nullptr;
    c.scales = scales + size_t(r) * (K / kGroup) * (kAffine ? 2 : 1);
    c.run = lane_run;
    return c;
  }

  // The scale entry (in f16s) of the lane's group in step s.
  __device__ int group_of(const Cursor& c, int s) const {
    return (s * (32 / kGroup) + (8 * c.run) / kGroup) * (kAffine ? 2 : 1);
  }

  __device__ Raw load(const Cursor& c, int s) const {
    const int unit = s / 4, u = s % 4;
    Raw raw;
    const uint8_t* code = c.codes + unit * 16 * kRunBytes + u * kRunBytes;
    if constexpr (kBits == 8) {
      const uint2 v = *reinterpret_cast<const uint2*>(code);
      raw.lo[0] = v.x;
      raw.lo[1] = v.y;
    } else {
      raw.lo[0] = *reinterpret_cast<const uint32_t*>(code);
    }
    const uint8_t* hi = c.high + unit * 16 * kHighRunBytes + u * kHighRunBytes;
    if constexpr (kBits == 5) raw.hi = __ldg(hi);
    else if constexpr (kBits == 6) raw.hi = __ldg(reinterpret_cast<const uint16_t*>(hi));
    else raw.hi = 0;
    if constexpr (kAffine) raw.sm = __ldg(reinterpret_cast<const uint32_t*>(c.scales + group_of(c, s)));
    else raw.sm = __ldg(c.scales + group_of(c, s));
    return raw;
  }

  // Steps s .. s + 3 (s a multiple of 4): the lane's four runs in one or two 16-byte
  // loads, their high bits in one, the four groups' scales in one.
  __device__ void load_unit(const Cursor& c, int s, Raw* out) const {
    const int unit = s / 4;
    const uint8_t* code = c.codes + unit * 16 * kRunBytes;
    if constexpr (kBits == 8) {
      const uint4 a = ld_stream(code), b = ld_stream(code + 16);
      out[0].lo[0] = a.x; out[0].lo[1] = a.y;
      out[1].lo[0] = a.z; out[1].lo[1] = a.w;
      out[2].lo[0] = b.x; out[2].lo[1] = b.y;
      out[3].lo[0] = b.z; out[3].lo[1] = b.w;
    } else {
      const uint4 a = ld_stream(code);
      out[0].lo[0] = a.x;
      out[1].lo[0] = a.y;
      out[2].lo[0] = a.z;
      out[3].lo[0] = a.w;
    }
    const uint8_t* hi = c.high + unit * 16 * kHighRunBytes;
    if constexpr (kBits == 5) {
      const uint32_t h = ld_stream_u32(hi);
#pragma unroll
      for (int u = 0; u < 4; ++u) out[u].hi = (h >> (8 * u)) & 0xFFu;
    } else if constexpr (kBits == 6) {
      const uint2 h = ld_stream_u2(hi);
      out[0].hi = h.x & 0xFFFFu;
      out[1].hi = h.x >> 16;
      out[2].hi = h.y & 0xFFFFu;
      out[3].hi = h.y >> 16;
    } else {
#pragma unroll
      for (int u = 0; u < 4; ++u) out[u].hi = 0;
    }
    if constexpr (kAffine) {  // group 32: (s, m) of steps s .. s + 3, shared by the 4 lanes
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(c.scales + 2 * s));
      out[0].sm = v.x;
      out[1].sm = v.y;
      out[2].sm = v.z;
      out[3].sm = v.w;
    } else if constexpr (kGroup == 32) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(c.scales + s));
      out[0].sm = v.x & 0xFFFFu;
      out[1].sm = v.x >> 16;
      out[2].sm = v.y & 0xFFFFu;
      out[3].sm = v.y >> 16;
    } else {  // group 16: step u's group for this lane is 2u + run / 2
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(c.scales + 2 * s));
      const int shift = c.run >= 2 ? 16 : 0;
      out[0].sm = (v.x >> shift) & 0xFFFFu;
      out[1].sm = (v.y >> shift) & 0xFFFFu;
      out[2].sm = (v.z >> shift) & 0xFFFFu;
      out[3].sm = (v.w >> shift) & 0xFFFFu;
    }
  }

  __device__ uint4 expand(const Raw& r) const {
    // Codes into f16 pairs 1024 + code (0x6400 is 1024; codes < 256 fill its mantissa).
    uint32_t p[4];
    if constexpr (kBits == 8) {
      p[0] = __byte_perm(r.lo[0], 0x64646464u, 0x4140);
      p[1] = __byte_perm(r.lo[0], 0x64646464u, 0x4342);
      p[2] = __byte_perm(r.lo[1], 0x64646464u, 0x4140);
      p[3] = __byte_perm(r.lo[1], 0x64646464u, 0x4342);
    } else {
      uint32_t hw = 0;
      if constexpr (kBits == 5) hw = ((r.hi & 0x0Fu) << 4) | ((r.hi & 0xF0u) << 16);
      if constexpr (kBits == 6) hw = ((r.hi & 0xFFu) << 4) | ((r.hi & 0xFF00u) << 12);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        uint32_t v = ((r.lo[0] >> (4 * i)) & 0x000F000Fu) | 0x64006400u;
        if constexpr (kBits == 5) v |= (hw >> i) & 0x00100010u;
        if constexpr (kBits == 6) v |= (hw >> (2 * i)) & 0x00300030u;
        p[i] = v;
      }
    }
    const __half2 magic = __half2half2(__ushort_as_half(0x6400));
    const __half2 s = __half2half2(__ushort_as_half(uint16_t(r.sm & 0xFFFFu)));
    const __half2 m = kAffine ? __half2half2(__ushort_as_half(uint16_t(r.sm >> 16)))
                              : __hmul2(s, __float2half2_rn(-float(kBias)));  // exact
    uint4 out;
    uint32_t* o = reinterpret_cast<uint32_t*>(&out);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      __half2 code = __hsub2(*reinterpret_cast<const __half2*>(&p[i]), magic);  // exact
      __half2 v = __hfma2(code, s, m);  // one rounding: f16(s·code + m)
      o[i] = *reinterpret_cast<uint32_t*>(&v);
    }
    return out;
  }
};

using Q8Rows = PlaneRows<8, 32, false>;        // Q8_0
using Q4Rows = PlaneRows<4, 32, false>;        // Q4_0
using Q4AffineRows = PlaneRows<4, 32, true>;   // Q4_1, Q4_K
using Q5Rows = PlaneRows<5, 32, false>;        // Q5_0
using Q5AffineRows = PlaneRows<5, 32, true>;   // Q5_1, Q5_K
using Q6Rows = PlaneRows<6, 16, false>;        // Q6_K

// The 8 values of run `run` (values 8·run .. 8·run + 7) of row r.
template <class W>
__device__ __forceinline__ uint4 read_run(const W& w, int r, int run) {
  return w.expand(w.load(w.row(r, run % 4), run / 4));
}

// Calls f with the reader of m's storage format (host side: picks the kernel to launch).
template <class F>
void visit_rows(const DeviceMatrix& m, F&& f) {
  switch (m.type) {
    case StoredType::F16: return f(F16Rows{m.data, m.cols});
    case StoredType::Q8_0: return f(Q8Rows{m.codes, m.high, m.scales, m.cols});
    case StoredType::Q4_0: return f(Q4Rows{m.codes, m.high, m.scales, m.cols});
    case StoredType::Q4_1:
    case StoredType::Q4_K: return f(Q4AffineRows{m.codes, m.high, m.scales, m.cols});
    case StoredType::Q5_0: return f(Q5Rows{m.codes, m.high, m.scales, m.cols});
    case StoredType::Q5_1:
    case StoredType::Q5_K: return f(Q5AffineRows{m.codes, m.high, m.scales, m.cols});
    case StoredType::Q6_K: return f(Q6Rows{m.codes, m.high, m.scales, m.cols});
    default:
      throw Error(std::string(stored_type_name(m.type)) + " is not a GPU weight format");
  }
}

}  // namespace tramontane::cuda
