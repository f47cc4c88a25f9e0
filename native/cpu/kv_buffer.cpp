#include "kv_buffer.h"

#include <algorithm>
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

bool has_f16c() {
  static const bool yes = isa_supported(Isa::Avx2);  // AVX2 kernels imply F16C here
  return yes;
}
#endif

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

const char* kv_cache_type_name(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return "f32";
    case KvCacheType::F16: return "f16";
    case KvCacheType::Auto: return "auto";
  }
  return "?";
}

KvBuffer::KvBuffer(int n_layers, int n_kv_heads, int head_dim, int capacity, KvCacheType type)
    : n_kv_heads_(n_kv_heads),
      head_dim_(head_dim),
      hd16_((head_dim + kBlock - 1) / kBlock * kBlock),
      capacity_((capacity + kBlock - 1) / kBlock * kBlock),
      type_(type) {
  if (type != KvCacheType::F32 && type != KvCacheType::F16) throw Error("a KV cache holds f32 or f16");
  const size_t count = size_t(n_layers) * size_t(n_kv_heads) * size_t(capacity_) * size_t(hd16_);
  keys_.reset(static_cast<uint8_t*>(std::calloc(count, element_bytes())));
  values_.reset(static_cast<uint8_t*>(std::calloc(count, element_bytes())));
  if (!keys_ || !values_) {
    throw Error("cannot allocate the KV cache (" +
                std::to_string(2 * count * element_bytes() >> 20) +
                " MiB): use a smaller context or slack");
  }
}

void KvBuffer::store(uint8_t* at, const float* src, int count, int stride) const {
  if (type_ == KvCacheType::F32) {
    float* dst = reinterpret_cast<float*>(at);
    for (int i = 0; i < count; ++i) dst[size_t(i) * stride] = src[i];
    return;
  }
  uint16_t h[256];
  uint16_t* dst = reinterpret_cast<uint16_t*>(at);
  for (int i0 = 0; i0 < count; i0 += 256) {
    const int m = count - i0 < 256 ? count - i0 : 256;
    to_f16(src + i0, h, size_t(m));
    for (int i = 0; i < m; ++i) dst[size_t(i0 + i) * stride] = h[i];
  }
}

void KvBuffer::load(const uint8_t* at, float* dst, int count, int stride) const {
  if (type_ == KvCacheType::F32) {
    const float* src = reinterpret_cast<const float*>(at);
    for (int i = 0; i < count; ++i) dst[i] = src[size_t(i) * stride];
  } else if (stride == 1) {
    from_f16(reinterpret_cast<const uint16_t*>(at), dst, size_t(count));
  } else {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(at);
    for (int i = 0; i < count; ++i) dst[i] = f16_to_f32(src[size_t(i) * stride]);
  }
}

void KvBuffer::write(int layer, int64_t pos, const float* k, const float* v) {
  const size_t lane = size_t(pos % kBlock), eb = element_bytes();
  for (int g = 0; g < n_kv_heads_; ++g) {
    const size_t at = block_offset(layer, g, pos);
    store(keys_.get() + (at + lane) * eb, k + size_t(g) * head_dim_, head_dim_, kBlock);
    store(values_.get() + (at + lane * hd16_) * eb, v + size_t(g) * head_dim_, head_dim_, 1);
  }
}

void KvBuffer::read_key(int layer, int64_t pos, int first, int count, float* dst) const {
  const size_t lane = size_t(pos % kBlock), eb = element_bytes();
  for (int e = first; e < first + count;) {
    const int g = e / head_dim_, d = e % head_dim_, m = std::min(head_dim_ - d, first + count - e);
    load(keys_.get() + (block_offset(layer, g, pos) + size_t(d) * kBlock + lane) * eb, dst, m, kBlock);
    dst += m, e += m;
  }
}

void KvBuffer::read_value(int layer, int64_t pos, int first, int count, float* dst) const {
  const size_t lane = size_t(pos % kBlock), eb = element_bytes();
  for (int e = first; e < first + count;) {
    const int g = e / head_dim_, d = e % head_dim_, m = std::min(head_dim_ - d, first + count - e);
    load(values_.get() + (block_offset(layer, g, pos) + lane * hd16_ + size_t(d)) * eb, dst, m, 1);
    dst += m, e += m;
  }
}

void KvBuffer::round_to_storage(float* x, size_t n) const {
  if (type_ == KvCacheType::F32) return;
  uint16_t h[64];
  for (size_t i = 0; i < n; i += 64) {
    const size_t m = n - i < 64 ? n - i : 64;
    to_f16(x + i, h, m);
    from_f16(h, x + i, m);
  }
}

}  // namespace tramontane::cpu
