// The GPU's plane layout of quantized weights (engine/weight_planes.h), checked on the
// host: the header's worked example of the code order, and for every format with a
// plane form, rows quantized by the reference quantizer, repacked, and read back as the
// GPU computes them (planes_row_to_f16) against the reference dequantization: exactly
// the f16 rounding of each value for the formats whose scale is the file's own f16,
// within the f16 rounding of the group's scale and offset for the K formats (products
// rounded to f16 once: an error of about 2⁻¹² of the group's largest magnitude, the size
// of the f16 rounding every weight gets on the GPU).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "convert.h"
#include "harness.h"
#include "quant_blocks.h"
#include "weight_planes.h"

using namespace tramontane;

namespace {

struct Planes {
  std::vector<uint8_t> codes, high;
  std::vector<uint16_t> scales;
};

Planes repack(StoredType t, const std::vector<uint8_t>& blocks, int64_t rows, int64_t cols) {
  const PlaneRowBytes rb = plane_row_bytes(plane_format(t), cols);
  Planes p;
  p.codes.assign(size_t(rows) * rb.codes, 0);
  p.high.assign(size_t(rows) * rb.high, 0);
  p.scales.assign(size_t(rows) * rb.scales / 2, 0);
  to_planes(t, blocks.data(), rows, cols, p.codes.data(), p.high.empty() ? nullptr : p.high.data(),
            p.scales.data());
  return p;
}

}  // namespace

TEST(code_order_matches_the_worked_example) {
  // One 128-value unit of Q4_0 blocks whose values are d·(code − 8) with codes 1, 2, ...,
  // 16, 1, 2, ...: quantize exact multiples of d so the codes come back as written.
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i) x[size_t(i)] = float((i % 16) + 1 - 8);
  for (int b = 0; b < 4; ++b) x[size_t(32 * b + 15)] = -8.f;  // −8 (code 0) fixes d = 1
  std::vector<uint8_t> blocks(row_bytes(StoredType::Q4_0, 128));
  cpu::quantize_row(StoredType::Q4_0, x.data(), blocks.data(), 128);
  const Planes p = repack(StoredType::Q4_0, blocks, 1, 128);
  uint32_t run0, run1, run4;
  std::memcpy(&run0, p.codes.data(), 4);       // values 0..7: place 0
  std::memcpy(&run1, p.codes.data() + 16, 4);  // values 8..15 (step 0, lane 1): place 4;
                                               // codes 9..15 and 0 (the −8)
  std::memcpy(&run4, p.codes.data() + 4, 4);   // values 32..39 (step 1, lane 0): place 1
  CHECK_MSG(run0 == 0x86427531u, "values 0..7 packed as %08x", run0);
  CHECK_MSG(run1 == 0x0ecafdb9u, "values 8..15 packed as %08x", run1);
  CHECK_MSG(run4 == 0x86427531u, "values 32..39 packed as %08x", run4);
  CHECK(p.high.empty());
  CHECK(cpu::f16_to_f32(p.scales[0]) == 1.f);
  CHECK(!plane_form_fits(StoredType::Q4_0, 96));
  EXPECT_ERROR(repack(StoredType::Q4_0, blocks, 1, 96), "128");
}

TEST(every_plane_format_reads_back_as_the_reference_values) {
  const StoredType types[] = {StoredType::Q8_0, StoredType::Q4_0, StoredType::Q4_1, StoredType::Q5_0,
                              StoredType::Q5_1, StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 0.05f);
  const int64_t rows = 3, cols = 512;
  for (StoredType t : types) {
    std::vector<float> x(size_t(rows * cols));
    for (float& v : x) v = normal(rng) + (t == StoredType::Q4_1 ? 0.03f : 0.f);
    std::vector<uint8_t> blocks(size_t(rows) * row_bytes(t, cols));
    for (int64_t r = 0; r < rows; ++r)
      cpu::quantize_row(t, x.data() + r * cols, blocks.data() + size_t(r) * row_bytes(t, cols), cols);
    const PlaneFormat f = plane_format(t);
    const PlaneRowBytes rb = plane_row_bytes(f, cols);
    const Planes p = repack(t, blocks, rows, cols);
    const bool exact = !(t == StoredType::Q4_K || t == StoredType::Q5_K || t == StoredType::Q6_K);
    int bad = 0;
    std::vector<float> ref(static_cast<size_t>(cols));
    std::vector<uint16_t> got(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      cpu::dequantize_row(t, blocks.data() + size_t(r) * row_bytes(t, cols), ref.data(), cols);
      planes_row_to_f16(f, p.codes.data() + size_t(r) * rb.codes,
                        p.high.empty() ? nullptr : p.high.data() + size_t(r) * rb.high,
                        p.scales.data() + size_t(r) * rb.scales / 2, cols, got.data());
      const int group = plane_format(t).group;
      for (int64_t i = 0; i < cols; ++i) {
        float group_max = 0.f;
        for (int64_t j = i / group * group; j < (i / group + 1) * group; ++j)
          group_max = std::max(group_max, std::fabs(ref[size_t(j)]));
        const float want = cpu::f16_to_f32(cpu::f32_to_f16(ref[size_t(i)]));
        const float have = cpu::f16_to_f32(got[size_t(i)]);
        // s·code and m each rounded (2⁻¹¹ of at most the group max), plus the value's own ulp.
        const float tol = exact ? 0.f : group_max * 0x1p-9f;
        if (std::fabs(have - want) > tol && ++bad <= 3) {
          std::fprintf(stderr, "  %s row %ld value %ld: %g vs %g\n", stored_type_name(t), long(r),
                       long(i), double(have), double(want));
        }
      }
    }
    CHECK_MSG(bad == 0, "%s: %d values differ", stored_type_name(t), bad);
  }
}

TEST(plane_bytes_per_value_stay_close_to_the_file) {
  const int64_t cols = 4096;
  auto bpw = [&](StoredType t) {
    const PlaneRowBytes rb = plane_row_bytes(plane_format(t), cols);
    return double(rb.codes + rb.high + rb.scales) * 8.0 / double(cols);
  };
  CHECK(bpw(StoredType::Q8_0) == 8.5);
  CHECK(bpw(StoredType::Q4_0) == 4.5);
  CHECK(bpw(StoredType::Q5_0) == 5.5);
  CHECK(bpw(StoredType::Q4_K) == 5.0);
  CHECK(bpw(StoredType::Q5_K) == 6.0);
  CHECK(bpw(StoredType::Q6_K) == 7.0);
}

TEST(types_without_a_plane_form_are_refused_by_name) {
  CHECK(!has_plane_format(StoredType::IQ4_XS));
  CHECK(!has_plane_format(StoredType::Q2_K) && !has_plane_format(StoredType::Q3_K));
  CHECK(!plane_form_fits(StoredType::Q3_K, 4096));  // so the GPU dequantizes it to f16
  CHECK(!has_plane_format(StoredType::F16));
  EXPECT_ERROR(plane_format(StoredType::IQ4_NL), "IQ4_NL");
}

int main() { return harness::run_all(); }
