// The block formats and the dot products on them: the worked examples of
// cpu/quant_blocks.h decoded by the reference dequantization, the reference quantizer's
// round trip within each format's precision, fp32 → f16 rounding, and every fast dot
// product (scalar, AVX2, AVX-512 VNNI, NEON) against the exact dot product of the dequantized
// row with the fp32 activations, with every kernel bit-identical to the scalar one and
// to quant_dot.h's order, and the tiled matrix product identical to the single dots.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "convert.h"
#include "harness.h"
#include "quant_blocks.h"
#include "quant_dot.h"
#include "quant_matmul.h"
#include "tensor.h"
#include "thread_pool.h"

using namespace tramontane;
using namespace tramontane::cpu;

namespace {

const StoredType kQuantized[] = {StoredType::Q8_0, StoredType::Q4_0, StoredType::Q4_1, StoredType::Q5_0,  StoredType::Q5_1,
                            StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K, StoredType::IQ4_NL, StoredType::IQ4_XS,
                            StoredType::Q2_K, StoredType::Q3_K};

// The SIMD kernels this CPU runs.
std::vector<QuantKernel> simd_kernels() {
  std::vector<QuantKernel> out;
  for (QuantKernel k : {QuantKernel::Avx2, QuantKernel::Vnni, QuantKernel::Neon}) {
    if (quant_kernel_available(k)) out.push_back(k);
  }
  return out;
}

void put_half(uint8_t* p, float x) {
  const uint16_t h = f32_to_f16(x);
  std::memcpy(p, &h, 2);
}

std::vector<float> dequantized(StoredType t, const std::vector<uint8_t>& block) {
  std::vector<float> out(size_t(block_size(t)));
  dequantize_row(t, block.data(), out.data(), int64_t(out.size()));
  return out;
}

std::vector<float> random_row(std::mt19937& rng, int64_t n, float scale) {
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  return x;
}

double exact_dot(StoredType, const std::vector<float>& w, const std::vector<float>& x) {
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) sum += double(w[i]) * x[i];
  return sum;
}

// How far 8-bit activations can move a dot product: each x is off by at most half a
// step of its block's scale (largest |x| / 127), so the sum by at most Σ |w| · step / 2
// per block; plus fp32 rounding of the block terms.
double activation_bound(StoredType t, const std::vector<float>& w, const std::vector<float>& x) {
  const size_t block = block_size(t) == 256 ? 256 : 32;
  double bound = 0, magnitude = 0;
  for (size_t b = 0; b < w.size(); b += block) {
    double amax = 0, wsum = 0;
    for (size_t i = b; i < b + block; ++i) {
      amax = std::max(amax, double(std::fabs(x[i])));
      wsum += std::fabs(double(w[i]));
      magnitude += std::fabs(double(w[i]) * x[i]);
    }
    bound += wsum * amax / 127 / 2;
  }
  return bound * 1.001 + 1e-5 * magnitude + 1e-6;
}

}  // namespace

TEST(f16_rounding) {
  // Every finite half survives f16 → fp32 → f16.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    if (f32_to_f16(f) != h) {
      harness::report_failure(__LINE__, "half " + std::to_string(h) + " does not round-trip");
      return;
    }
  }
  CHECK(f32_to_f16(1.f + 1.f / 2048) == 0x3c00);  // halfway between two halves: to even
  CHECK(f32_to_f16(1.f + 3.f / 2048) == 0x3c02);
  CHECK(f32_to_f16(1.f + 3.f / 4096) == 0x3c01);
  CHECK(f32_to_f16(70000.f) == 0x7c00);
  CHECK(f32_to_f16(-0.f) == 0x8000);
}

TEST(worked_examples_decode) {
  {  // Q8_0: d = 0.5, qs[3] = −6 → −3
    std::vector<uint8_t> b(34, 0);
    put_half(b.data(), 0.5f);
    b[2 + 3] = uint8_t(int8_t(-6));
    CHECK(dequantized(StoredType::Q8_0, b)[3] == -3.f);
  }
  {  // Q4_0: d = 0.5, qs[0] = 0x3A → v[0] = 1, v[16] = −2.5; other nibbles 0 → −4
    std::vector<uint8_t> b(18, 0);
    put_half(b.data(), 0.5f);
    b[2] = 0x3A;
    const std::vector<float> v = dequantized(StoredType::Q4_0, b);
    CHECK(v[0] == 1.f && v[16] == -2.5f && v[1] == -4.f);
  }
  {  // Q4_1: d = 2, m = −1, qs[1] = 0x52 → v[1] = 3, v[17] = 9
    std::vector<uint8_t> b(20, 0);
    put_half(b.data(), 2.f);
    put_half(b.data() + 2, -1.f);
    b[4 + 1] = 0x52;
    const std::vector<float> v = dequantized(StoredType::Q4_1, b);
    CHECK(v[1] == 3.f && v[17] == 9.f && v[0] == -1.f);
  }
  {  // Q5_0: d = 1, qs[0] = 0x0F, qh bit 0 → v[0] = 15; bit 16 alone → v[16] = 0
    std::vector<uint8_t> b(22, 0);
    put_half(b.data(), 1.f);
    b[2] = 0x01;
    b[4] = 0x01;  // bit 16 of qh
    b[6] = 0x0F;
    const std::vector<float> v = dequantized(StoredType::Q5_0, b);
    CHECK(v[0] == 15.f && v[16] == 0.f && v[1] == -16.f);
  }
  {  // Q5_1: d = 1, m = 0.5, qh bit 20, qs[4] high nibble 3 → v[20] = 19.5
    std::vector<uint8_t> b(24, 0);
    put_half(b.data(), 1.f);
    put_half(b.data() + 2, 0.5f);
    b[4 + 2] = 0x10;  // bit 20
    b[8 + 4] = 0x30;
    CHECK(dequantized(StoredType::Q5_1, b)[20] == 19.5f);
  }
  {  // Q4_K: value 70 = chunk 1, sub-block 2, low nibble of qs[38]; d = 1/64, sc[2] = 20,
     // q = 9, dmin = 1/32, m[2] = 5 → 20·9/64 − 5/32 = 2.65625
    std::vector<uint8_t> b(144, 0);
    put_half(b.data(), 1.f / 64);
    put_half(b.data() + 2, 1.f / 32);
    b[4 + 2] = 20;      // sc[2]
    b[4 + 2 + 4] = 5;   // m[2]
    b[16 + 38] = 0x09;
    const std::vector<float> v = dequantized(StoredType::Q4_K, b);
    CHECK(v[70] == 2.65625f);
    CHECK(v[71] == -5.f / 32);  // q = 0: only the min
    // Sub-block 6 (s ≥ 4): sc = scales[10] & 15 | (scales[2] >> 6) << 4 = 3 | 1 << 4 = 19
    b[4 + 10] = 0x03;
    b[4 + 2] |= 0x40;
    b[16 + 96] = 0x02;  // value 192 (chunk 3, low nibble, sub-block 6) q = 2
    CHECK(dequantized(StoredType::Q4_K, b)[192] == 19.f * 2 / 64);
  }
  {  // Q5_K: as Q4_K with value 32s + l taking bit s of qh[l]: value 33 (s = 1, l = 1)
    std::vector<uint8_t> b(176, 0);
    put_half(b.data(), 1.f);
    b[4 + 1] = 2;               // sc[1] = 2
    b[16 + 1] = 0x02;           // qh[1] bit 1
    b[48 + 1] = 0x70;           // high nibble 7 (sub-block 1)
    CHECK(dequantized(StoredType::Q5_K, b)[33] == 2.f * (7 + 16));
  }
  {  // Q6_K: value 200 = half 1, quarter 2 (high nibble of ql[64 + 8]), qh[32 + 8] bits 4-5
    std::vector<uint8_t> b(210, 0);
    put_half(b.data() + 208, 0.5f);
    b[192 + 200 / 16] = uint8_t(int8_t(-3));
    b[64 + 8] = 0xA0;          // high nibble 10
    b[128 + 32 + 8] = 0x20;    // bits 4-5 = 2 → q = 10 | 32 = 42, minus 32 = 10
    CHECK(dequantized(StoredType::Q6_K, b)[200] == 0.5f * -3 * 10);
  }
  {  // IQ4_NL: d = 0.5, qs[0] = 0x3A → v[0] = 0.5·levels[10] = 12.5, v[16] = 0.5·levels[3] = −32.5
    std::vector<uint8_t> b(18, 0);
    put_half(b.data(), 0.5f);
    b[2] = 0x3A;
    const std::vector<float> v = dequantized(StoredType::IQ4_NL, b);
    CHECK(v[0] == 12.5f && v[16] == -32.5f && v[1] == -63.5f);
  }
  {  // IQ4_XS: sub-block 3: ls = (scales_l[1] >> 4) | (scales_h >> 6 & 3) << 4 = 5 | 2 << 4 = 37;
     // d = 0.25, qs[48] low nibble 15 → v[96] = 0.25·(37 − 32)·113
    std::vector<uint8_t> b(136, 0);
    put_half(b.data(), 0.25f);
    b[2] = 0x80;          // scales_h bits 6-7 = 2
    b[4 + 1] = 0x50;      // scales_l[1] high nibble = 5
    b[8 + 48] = 0x0F;
    CHECK(dequantized(StoredType::IQ4_XS, b)[96] == 0.25f * 5 * 113);
  }
  {  // Q2_K: value 40 = n 0, j 1, l 8: bits 2-3 of qs[8]; group 2, scales[2] = 0x13 (sc 3,
     // m 1); d = 0.5, dmin = 0.25, q = 2 → 0.5·3·2 − 0.25·1 = 2.75
    std::vector<uint8_t> b(84, 0);
    put_half(b.data() + 80, 0.5f);
    put_half(b.data() + 82, 0.25f);
    b[2] = 0x13;
    b[16 + 8] = 0x08;
    const std::vector<float> v = dequantized(StoredType::Q2_K, b);
    CHECK(v[40] == 2.75f && v[8] == 0.f);  // group 0: sc 0, m 0
    CHECK(v[41] == -0.25f);  // q = 0: only the min
    // Value 200 = n 1, j 2, l 8: bits 4-5 of qs[40]; group 12, scales[12] = 0x02 → 0.5·2·3
    b[12] = 0x02;
    b[16 + 40] = 0x30;
    CHECK(dequantized(StoredType::Q2_K, b)[200] == 3.f);
  }
  {  // Q3_K: value 165 = n 1, j 1, l 5: bits 2-3 of qs[32 + 5], high bit 5 of hmask[5];
     // group 10: low 4 bits from the high nibble of scales[2], high 2 bits are bits 4-5 of
     // scales[8 + 2] → s6 = 7 | 2 << 4 = 39; d = 0.5, q = 1 | 4 → 0.5·(39 − 32)·(5 − 4)
    std::vector<uint8_t> b(110, 0);
    put_half(b.data() + 108, 0.5f);
    b[96 + 2] = 0x70;
    b[96 + 10] = 0x20;
    b[32 + 32 + 5] = 0x04;
    b[5] = 0x20;
    std::vector<float> v = dequantized(StoredType::Q3_K, b);
    CHECK(v[165] == 3.5f);
    CHECK(v[164] == 0.5f * 7 * -4);  // high bit clear, low bits 0: −4
    // Group 1 (g < 8): low 4 bits of scales[1], high bits 0-1 of scales[9] → 0x3 | 3 << 4 = 51
    b[96 + 1] = 0x03;
    b[96 + 9] = 0x03;
    b[16] |= 0x01;  // value 16 (group 1): high bit 0 of hmask[16], low bits 0 → 4 − 4
    v = dequantized(StoredType::Q3_K, b);
    CHECK(v[16] == 0.f && v[17] == 0.5f * 19 * -4);
  }
}

TEST(quantizer_round_trips_within_format_precision) {
  std::mt19937 rng(7);
  // Relative rms error of dequantize(quantize(x)) for normal x.
  const struct { StoredType t; double limit; } cases[] = {
      {StoredType::Q8_0, 0.01}, {StoredType::Q4_0, 0.14}, {StoredType::Q4_1, 0.12}, {StoredType::Q5_0, 0.07},
      {StoredType::Q5_1, 0.06}, {StoredType::Q4_K, 0.12}, {StoredType::Q5_K, 0.06}, {StoredType::Q6_K, 0.035},
      {StoredType::IQ4_NL, 0.12}, {StoredType::IQ4_XS, 0.12}, {StoredType::Q2_K, 0.4}, {StoredType::Q3_K, 0.2},
      {StoredType::F16, 1e-3},  {StoredType::BF16, 5e-3}, {StoredType::F32, 0},
  };
  for (const auto& c : cases) {
    const int64_t n = 1024;
    const std::vector<float> x = random_row(rng, n, 0.3f);
    std::vector<uint8_t> q(row_bytes(c.t, n));
    std::vector<float> y(static_cast<size_t>(n));
    quantize_row(c.t, x.data(), q.data(), n);
    dequantize_row(c.t, q.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) err += double(x[i] - y[i]) * (x[i] - y[i]), ref += double(x[i]) * x[i];
    const double rel = std::sqrt(err / ref);
    std::printf("  %-5s relative rms error %.4f\n", stored_type_name(c.t), rel);
    CHECK_MSG(rel <= c.limit, "%s: %.4f > %.4f", stored_type_name(c.t), rel, c.limit);
  }
  // All zeros stays zero.
  for (StoredType t : kQuantized) {
    std::vector<float> x(256, 0.f), y(256, 1.f);
    std::vector<uint8_t> q(row_bytes(t, 256));
    quantize_row(t, x.data(), q.data(), 256);
    dequantize_row(t, q.data(), y.data(), 256);
    CHECK_MSG(y == x, "%s: zeros", stored_type_name(t));
  }
}

TEST(fast_dots_match_the_exact_dot) {
  std::mt19937 rng(11);
  for (StoredType t : kQuantized) {
    for (int64_t n : {256, 512, 4096}) {
      for (int trial = 0; trial < 20; ++trial) {
        const std::vector<float> w = random_row(rng, n, 0.05f);
        std::vector<float> x = random_row(rng, n, 1.f);
        if (trial == 1) std::fill(x.begin(), x.begin() + 64, 0.f);  // a zero block
        if (trial == 2) x[5] = 40.f;                                  // an outlier
        std::vector<uint8_t> q(row_bytes(t, n));
        quantize_row(t, w.data(), q.data(), n);
        std::vector<float> wd(static_cast<size_t>(n));
        dequantize_row(t, q.data(), wd.data(), n);
        std::vector<uint8_t> xq(q8_bytes(t, n));
        quantize_activations(t, x.data(), n, xq.data());
        const float scalar = quant_dot(QuantKernel::Scalar, t, q.data(), xq.data(), n);
        const double exact = exact_dot(t, wd, x);
        const double tolerance = activation_bound(t, wd, x);
        CHECK_MSG(std::fabs(scalar - exact) <= tolerance, "%s n=%lld: %.6f vs %.6f", stored_type_name(t),
                  (long long)n, scalar, exact);
        for (QuantKernel k : simd_kernels()) {
          const float fast = quant_dot(k, t, q.data(), xq.data(), n);
          CHECK_MSG(std::memcmp(&fast, &scalar, 4) == 0, "%s n=%lld: %s %.9g vs scalar %.9g", stored_type_name(t),
                    (long long)n, quant_kernel_name(k), fast, scalar);
        }
      }
    }
  }
}

TEST(fast_dots_on_extreme_blocks_agree) {
  // Every quantized byte at its extremes (e.g. Q8_0 −128, all nibbles 15, Q6_K scales
  // −128): scalar and the SIMD kernels still agree, and agree with the exact integer
  // arithmetic.
  std::mt19937 rng(3);
  for (StoredType t : kQuantized) {
    const int64_t n = 512;
    for (int fill : {0x00, 0xff, 0x80, 0x7f, -1}) {
      std::vector<uint8_t> q(row_bytes(t, n));
      for (uint8_t& b : q) b = uint8_t(fill >= 0 ? fill : int(rng()));
      // Keep the f16 scales finite so the sums are comparable.
      for (size_t b = 0; b < q.size(); b += block_bytes(t)) {
        const int scale_at = t == StoredType::Q6_K ? 208 : t == StoredType::Q2_K ? 80 : t == StoredType::Q3_K ? 108 : 0;
        put_half(&q[b + size_t(scale_at)], 0.01f);
        if (t == StoredType::Q4_1 || t == StoredType::Q5_1 || t == StoredType::Q4_K || t == StoredType::Q5_K) put_half(&q[b + 2], 0.02f);
        if (t == StoredType::Q2_K) put_half(&q[b + 82], 0.02f);
      }
      std::vector<float> x = random_row(rng, n, 1.f);
      std::vector<uint8_t> xq(q8_bytes(t, n));
      quantize_activations(t, x.data(), n, xq.data());
      const float scalar = quant_dot(QuantKernel::Scalar, t, q.data(), xq.data(), n);
      for (QuantKernel k : simd_kernels()) {
        const float fast = quant_dot(k, t, q.data(), xq.data(), n);
        CHECK_MSG(std::memcmp(&fast, &scalar, 4) == 0, "%s %s fill %d: %.9g vs %.9g", stored_type_name(t),
                  quant_kernel_name(k), fill, fast, scalar);
      }
      std::vector<float> wd(static_cast<size_t>(n));
      dequantize_row(t, q.data(), wd.data(), n);
      CHECK_MSG(std::fabs(scalar - exact_dot(t, wd, x)) <= activation_bound(t, wd, x), "%s fill %d: %.6f vs %.6f",
                stored_type_name(t), fill, scalar, exact_dot(t, wd, x));
    }
  }
}

TEST(activations_quantized_alike_by_both_quantizers) {
  // The SIMD quantizer writes the scalar one's bytes: random rows, a zero block, an
  // outlier, and values on the rounding ties (k + 0.5 after scaling).
  if (!avx2_available()) return;
  std::mt19937 rng(13);
  for (StoredType t : {StoredType::Q8_0, StoredType::Q4_K}) {
    for (int trial = 0; trial < 8; ++trial) {
      const int64_t n = 1024;
      std::vector<float> x = random_row(rng, n, 1.f);
      if (trial == 1) std::fill(x.begin(), x.begin() + 256, 0.f);
      if (trial == 2) x[7] = -300.f;
      if (trial == 3) {  // each block's largest is 127, so the scale is 1 and k + 0.5 stays a tie
        for (int64_t i = 0; i < n; ++i) x[size_t(i)] = i % 32 == 0 ? 127.f : float(i % 254 - 127) + 0.5f;
      }
      std::vector<uint8_t> a(q8_bytes(t, n)), b(q8_bytes(t, n));
      quantize_activations(t, x.data(), n, a.data());
      quantize_activations_avx2(t, x.data(), n, b.data());
      CHECK_MSG(a == b, "%s trial %d: the quantizers differ", stored_type_name(t), trial);
    }
  }
}

TEST(scalar_dot_follows_the_documented_order) {
  // quant_dot.h's eight lanes for the 32-value formats, written out for Q8_0 and Q4_1
  // (a min): the scalar kernel, the definition every SIMD kernel matches, gives these bits.
  std::mt19937 rng(5);
  const int64_t n = 320;  // 10 blocks: lanes wrap past 8 blocks
  for (StoredType t : {StoredType::Q8_0, StoredType::Q4_1}) {
    std::vector<uint8_t> q(row_bytes(t, n));
    const std::vector<float> w = random_row(rng, n, 0.05f), x = random_row(rng, n, 1.f);
    quantize_row(t, w.data(), q.data(), n);
    std::vector<uint8_t> xq(q8_bytes(t, n));
    quantize_activations(t, x.data(), n, xq.data());
    const Q8Block* xb = reinterpret_cast<const Q8Block*>(xq.data());
    float lanes[8] = {}, mins = 0.f;
    for (int64_t b = 0; b < n / 32; ++b) {
      const uint8_t* wb = &q[size_t(b) * block_bytes(t)];
      std::vector<float> levels(32);
      dequantize_row(t, wb, levels.data(), 32);
      const float d = f16_to_f32(uint16_t(wb[0] | wb[1] << 8));
      const float m = t == StoredType::Q4_1 ? f16_to_f32(uint16_t(wb[2] | wb[3] << 8)) : 0.f;
      for (int k = 0; k < 8; ++k) {
        int32_t lane = 0;
        for (int i = 4 * k; i < 4 * k + 4; ++i) lane += int(std::lround((levels[i] - m) / d)) * xb[b].q[i];
        lanes[k] = lanes[k] + float(lane) * (d * xb[b].d);
      }
      if (t == StoredType::Q4_1) mins = mins + (m * xb[b].d) * float(xb[b].sum);
    }
    const float expected =
        (((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))) + mins;
    const float scalar = quant_dot(QuantKernel::Scalar, t, q.data(), xq.data(), n);
    CHECK_MSG(std::memcmp(&expected, &scalar, 4) == 0, "%s: %.9g vs %.9g", stored_type_name(t), scalar, expected);
  }
}

TEST(scalar_k_dot_follows_the_documented_order) {
  // quant_dot.h's eight lanes for the K formats, written out from quant_blocks.h's
  // layouts for Q4_K and Q2_K (mins) and Q6_K and Q3_K (an offset): the scalar kernel
  // gives these bits.
  std::mt19937 rng(6);
  const int64_t n = 2560;  // 10 super-blocks
  for (StoredType t : {StoredType::Q4_K, StoredType::Q6_K, StoredType::Q2_K, StoredType::Q3_K}) {
    const bool with_min = t == StoredType::Q4_K || t == StoredType::Q2_K;
    std::vector<uint8_t> q(row_bytes(t, n));
    const std::vector<float> w = random_row(rng, n, 0.05f), x = random_row(rng, n, 1.f);
    quantize_row(t, w.data(), q.data(), n);
    std::vector<uint8_t> xq(q8_bytes(t, n));
    quantize_activations(t, x.data(), n, xq.data());
    const Q8KBlock* xb = reinterpret_cast<const Q8KBlock*>(xq.data());
    float acc[8] = {};
    for (int64_t b = 0; b < n / 256; ++b) {
      const uint8_t* wb = &q[size_t(b) * block_bytes(t)];
      const int8_t* xv = xb[b].q;
      int32_t lane[8] = {}, correction[8] = {};
      for (int i = 0; i < 256; ++i) {
        const int k = (i % 32) / 4, s = i / 32;
        if (t == StoredType::Q4_K) {
          int sc, m;
          k_scale_min(wb + 4, s, sc, m);
          const uint8_t byte = wb[16 + 32 * (s / 2) + i % 32];
          lane[k] += sc * (s % 2 ? byte >> 4 : byte & 15) * xv[i];
          correction[s] += m * xv[i];
        } else if (t == StoredType::Q2_K || t == StoredType::Q3_K) {
          const int g = i / 16, shift = 2 * ((i % 128) / 32), at = 32 * (i / 128) + i % 32;
          if (t == StoredType::Q2_K) {
            lane[k] += (wb[g] & 15) * ((wb[16 + at] >> shift) & 3) * xv[i];
            correction[s] += (wb[g] >> 4) * xv[i];
          } else {
            const int value = ((wb[32 + at] >> shift) & 3) | ((wb[i % 32] >> (i / 32)) & 1) << 2;
            const int low = g < 8 ? wb[96 + g] & 15 : wb[96 + g - 8] >> 4;
            const int scale = (low | ((wb[104 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
            lane[k] += scale * value * xv[i];
            correction[s] += 4 * scale * xv[i];
          }
        } else {
          const int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
          const uint8_t low = wb[64 * half + 32 * (quarter % 2) + l];
          const int value = (quarter < 2 ? low & 15 : low >> 4) | ((wb[128 + 32 * half + l] >> (2 * quarter)) & 3) << 4;
          const int scale = int8_t(wb[192 + i / 16]);
          lane[k] += scale * value * xv[i];
          correction[s] += 32 * scale * xv[i];
        }
      }
      const int d_at = t == StoredType::Q4_K ? 0 : t == StoredType::Q6_K ? 208 : t == StoredType::Q2_K ? 80 : 108;
      const int dmin_at = t == StoredType::Q4_K ? 2 : 82;
      const float d = f16_to_f32(uint16_t(wb[d_at] | wb[d_at + 1] << 8));
      const float dmin = with_min ? f16_to_f32(uint16_t(wb[dmin_at] | wb[dmin_at + 1] << 8)) : 0.f;
      for (int k = 0; k < 8; ++k) {
        const float term = with_min
                               ? float(lane[k]) * (xb[b].d * d) - float(correction[k]) * (xb[b].d * dmin)
                               : float(lane[k] - correction[k]) * (xb[b].d * d);
        acc[k] = acc[k] + term;
      }
    }
    const float expected = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const float scalar = quant_dot(QuantKernel::Scalar, t, q.data(), xq.data(), n);
    CHECK_MSG(std::memcmp(&expected, &scalar, 4) == 0, "%s: %.9g vs %.9g", stored_type_name(t), scalar, expected);
  }
}

TEST(tiled_matmul_matches_single_dots_for_any_threads) {
  // Row counts and token counts that leave partial tiles (rows of 1..3 past the tiles of
  // 4 and 16, tokens past groups of 4): every entry is the single dot's bits.
  std::mt19937 rng(9);
  for (StoredType t : kQuantized) {
    const int64_t cols = block_size(t) == 256 ? 512 : 96, rows = 37;
    std::vector<uint8_t> wq(size_t(rows) * row_bytes(t, cols));
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> w = random_row(rng, cols, 0.05f);
      quantize_row(t, w.data(), &wq[size_t(r) * row_bytes(t, cols)], cols);
    }
    const Matrix m{wq.data(), t, rows, cols};
    for (int n : {1, 2, 3, 5, 9, 19}) {
      const std::vector<float> x = random_row(rng, cols * n, 1.f);
      std::vector<uint8_t> xq(q8_bytes(t, cols));
      std::vector<float> expected(size_t(n * rows));
      for (int tok = 0; tok < n; ++tok) {
        quantize_activations(t, &x[size_t(tok * cols)], cols, xq.data());
        for (int64_t r = 0; r < rows; ++r) {
          expected[size_t(tok * rows + r)] =
              quant_dot(QuantKernel::Scalar, t, &wq[size_t(r) * row_bytes(t, cols)], xq.data(), cols);
        }
      }
      std::vector<QuantKernel> kernels = simd_kernels();
      kernels.push_back(QuantKernel::Scalar);
      for (QuantKernel k : kernels) {
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          std::vector<uint8_t> scratch;
          std::vector<float> out(expected.size());
          quant_matmul(out.data(), x.data(), n, m, pool, scratch, k);
          CHECK_MSG(std::memcmp(out.data(), expected.data(), out.size() * 4) == 0, "%s %s n=%d threads=%d",
                    stored_type_name(t), quant_kernel_name(k), n, threads);
        }
      }
    }
  }
}

int main() { return harness::run_all(); }
