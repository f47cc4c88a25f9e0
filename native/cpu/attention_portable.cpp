// The tile kernels of attention_tiled.h in plain C++ (16 floats, fused multiply-adds
// through std::fma): the ARM64 path, where the compiler maps them onto NEON, and on
// x86 the scalar model the AVX kernels must match bit for bit in the tests.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "attention_tiled.h"
#include "convert.h"
#include "kv_cache.h"

namespace tramontane::cpu {
namespace {

struct V {
  static constexpr int kRows = 4;
  float v[16];
  static V zero() { return set1(0.f); }
  static V load(const float* p) {
    V a;
    std::memcpy(a.v, p, sizeof a.v);
    return a;
  }
  static V load(const uint16_t* p) {
    V a;
    for (int k = 0; k < 16; ++k) a.v[k] = f16_to_f32(p[k]);
    return a;
  }
  static void store(float* p, V a) { std::memcpy(p, a.v, sizeof a.v); }
  static V set1(float x) {
    V a;
    for (float& e : a.v) e = x;
    return a;
  }
  template <class F>
  static V map(V a, V b, F f) {
    for (int k = 0; k < 16; ++k) a.v[k] = f(a.v[k], b.v[k]);
    return a;
  }
  static V sub(V a, V b) { return map(a, b, [](float x, float y) { return x - y; }); }
  static V mul(V a, V b) { return map(a, b, [](float x, float y) { return x * y; }); }
  // The maximum as maxps takes it: the second operand unless the first is larger.
  static V max(V a, V b) { return map(a, b, [](float x, float y) { return x > y ? x : y; }); }
  static V fma(V a, V b, V c) {
    for (int k = 0; k < 16; ++k) c.v[k] = std::fma(a.v[k], b.v[k], c.v[k]);
    return c;
  }
  static V round(V a) {
    for (float& e : a.v) e = std::nearbyint(e);
    return a;
  }
  static V exp2i(V n) {
    for (float& e : n.v) {
      const uint32_t bits = uint32_t(int32_t(e) + 127) << 23;
      std::memcpy(&e, &bits, sizeof e);
    }
    return n;
  }
  static V zero_below(V x, V limit, V a) {
    for (int k = 0; k < 16; ++k) a.v[k] = x.v[k] < limit.v[k] ? 0.f : a.v[k];
    return a;
  }
  static float hmax(V a) {
    float m = a.v[0];
    for (float e : a.v) m = e > m ? e : m;
    return m;
  }
  static float hsum(V a) {
    float b[8], c[4];
    for (int k = 0; k < 8; ++k) b[k] = a.v[k] + a.v[k + 8];
    for (int k = 0; k < 4; ++k) c[k] = b[k] + b[k + 4];
    return (c[0] + c[2]) + (c[1] + c[3]);
  }
};

}  // namespace
}  // namespace tramontane::cpu

#include "attention_tiled_kernel.h"

namespace tramontane::cpu {

void tiles_portable(const TiledJob& job, int64_t begin, int64_t end, float* work) {
  tiled::tiles<V>(job, begin, end, work);
}

}  // namespace tramontane::cpu
