#include "kv_buffer.h"

#include <cstring>
#include <string>

#include "convert.h"
#include "cpu_features.h"
#include "quant_blocks.h"
#include "tramontane/engine.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TRAMONTANE_F16C 1
#endif

namespace tramontane::cpu {

namespace {

#if TRAMONTANE_F16C
// The F16C instructions round to nearest even too: the same bits as f32_to_f16.
__attribute__((target("avx,f16c"))) void to_f16_f16c(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

__attribute__((target("avx,f16c"))) void from_f16_f16c(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}
#endif

bool has_f16c() {
  static const bool yes = isa_supported(Isa::Avx2);  // AVX2 kernels imply F16C here
  return yes;
}

void to_f16(const float* src, uint16_t* dst, size_t n) {
#if TRAMONTANE_F16C
  if (has_f16c()) return to_f16_f16c(src, dst, n);
#endif
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void from_f16(const uint16_t* src, float* dst, size_t n) {
#if TRAMONTANE_F16C
  if (has_f16c()) return from_f16_f16c(src, dst, n);
#endif
  for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

}  // namespace

const char* kv_type_name(KvType type) { return type == KvType::F32 ? "f32" : "f16"; }

KvBuffer::KvBuffer(int n_layers, int kv_dim, int capacity, KvType type)
    : kv_dim_(kv_dim), capacity_(capacity), type_(type) {
  const size_t count = size_t(n_layers) * size_t(capacity) * size_t(kv_dim);
  keys_.reset(static_cast<uint8_t*>(std::calloc(count, element_bytes())));
  values_.reset(static_cast<uint8_t*>(std::calloc(count, element_bytes())));
  if (!keys_ || !values_) {
    throw Error("cannot allocate the KV cache (" +
                std::to_string(2 * count * element_bytes() >> 20) +
                " MiB): use a smaller context or slack");
  }
}

float* KvBuffer::f32(uint8_t* base, int layer, int64_t pos) const {
  if (type_ != KvType::F32) throw Error("the KV cache holds f16, not f32");
  return reinterpret_cast<float*>(base) + offset(layer, pos);
}

void KvBuffer::write(int layer, int64_t pos, const float* k, const float* v) {
  const size_t at = offset(layer, pos);
  if (type_ == KvType::F32) {
    std::memcpy(reinterpret_cast<float*>(keys_.get()) + at, k, size_t(kv_dim_) * sizeof(float));
    std::memcpy(reinterpret_cast<float*>(values_.get()) + at, v, size_t(kv_dim_) * sizeof(float));
  } else {
    to_f16(k, reinterpret_cast<uint16_t*>(keys_.get()) + at, size_t(kv_dim_));
    to_f16(v, reinterpret_cast<uint16_t*>(values_.get()) + at, size_t(kv_dim_));
  }
}

void KvBuffer::read(const uint8_t* base, int layer, int64_t pos, int first, int count,
                    float* dst) const {
  const size_t at = offset(layer, pos) + size_t(first);
  if (type_ == KvType::F32) {
    std::memcpy(dst, reinterpret_cast<const float*>(base) + at, size_t(count) * sizeof(float));
  } else {
    from_f16(reinterpret_cast<const uint16_t*>(base) + at, dst, size_t(count));
  }
}

void KvBuffer::round_to_storage(float* x, size_t n) const {
  if (type_ == KvType::F32) return;
  uint16_t h[64];
  for (size_t i = 0; i < n; i += 64) {
    const size_t m = n - i < 64 ? n - i : 64;
    to_f16(x + i, h, m);
    from_f16(h, x + i, m);
  }
}

}  // namespace tramontane::cpu
