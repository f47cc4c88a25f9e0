// The 8-bit activation dot products in AVX2 and in AVX-512 VNNI (on 256-bit vectors),
// compiled function by function (target attributes) and called only when the CPU has
// them. Each block's integer sums come from 32-byte vectors in quant_dot.h's eight
// lanes; the fp32 terms are then formed and accumulated exactly as
// quant_dot_scalar.cpp does, so all give the same bits. The tile kernels
// (quant_tile_32.inc, quant_tile_k.inc) unpack a weight block once for up to 4 tokens
// (prefill); each token keeps its own accumulators and order.
#include <algorithm>
#include <cstring>

#include "convert.h"
#include "quant_blocks.h"
#include "quant_dot.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TRAMONTANE_AVX2 __attribute__((target("avx2,f16c")))

namespace tramontane::cpu {

namespace {

// An f16 scale, converted inline (F16C): exact, as the scalar kernels' table.
TRAMONTANE_AVX2 inline float h(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return _cvtsh_ss(v);
}

TRAMONTANE_AVX2 inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// 16 bytes of nibbles → 32 values: low nibbles first (values 0..15), then high ones.
// The 16 bytes in both halves, the upper half shifted down by 4 (32-bit lanes: the bits
// that cross bytes are masked off): two instructions after the load.
TRAMONTANE_AVX2 inline __m256i nibbles(const uint8_t* qs) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(15));
}

// Nibbles (one per byte) → the signed IQ4 levels they stand for.
TRAMONTANE_AVX2 inline __m256i levels(__m256i nibbles) {
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4Levels));
  return _mm256_shuffle_epi8(_mm256_set_m128i(table, table), nibbles);
}

// The 32 bits of qh as 32 bytes: 16 where bit j is set, else 0.
TRAMONTANE_AVX2 inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i mask = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// The weights 16 KiB ahead of a block are requested while it is used: a matrix is read
// once per token from a mapped file, in 4 KiB pages the hardware prefetcher does not
// cross (decode of a 100M-parameter Q8_0 model: 2.7x faster on one thread).
constexpr size_t kPrefetch = 16384;

inline void prefetch_ahead(const uint8_t* block) {
  _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetch), _MM_HINT_T0);
}

// A super-block of the K formats (136 to 210 bytes): each of its cache lines.
template <size_t Bytes>
inline void prefetch_ahead(const uint8_t* block) {
  for (size_t at = 0; at < Bytes; at += 64) prefetch_ahead(block + at);
}

// The value `v` as it is, but opaque to the compiler: GCC rewrites the product of two
// broadcasts as a scalar product and a broadcast, one more instruction per term.
TRAMONTANE_AVX2 inline __m256 opaque(__m256 v) {
  asm("" : "+v"(v));
  return v;
}

// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)): quant_dot.h's order of the lanes.
TRAMONTANE_AVX2 inline float lane_sum(__m256 a) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 pairs = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)));
}

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block (12 bytes, b0 .. b11),
// four at a time in 32-bit words: scales 0-3 and mins 0-3 are the low 6 bits of b0-3 and
// b4-7; scales 4-7 take their low 4 bits from b8-11 and the top 2 from b0-3, mins 4-7
// the high nibbles of b8-11 and the top 2 bits of b4-7.
// Returned as 16 bytes: the 8 scales, then the 8 mins.
TRAMONTANE_AVX2 inline __m128i scales_mins(const uint8_t* scales) {
  uint32_t word[3];
  std::memcpy(word, scales, 12);
  const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
  return _mm_setr_epi32(int(word[0] & six), int((word[2] & four) | (((word[0] >> 6) & two) << 4)), int(word[1] & six),
                        int(((word[2] >> 4) & four) | (((word[1] >> 6) & two) << 4)));
}

namespace avx2 {
constexpr bool kWideTiles = false;  // 16 registers: tiles of 4 tokens × 2 rows
constexpr bool kVnni = false;
constexpr int kKRows = 1;  // K formats: 4 tokens × 1 row
#define KERNEL_TARGET TRAMONTANE_AVX2
TRAMONTANE_AVX2 inline __m256i byte_dot(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// acc + the products of unsigned u and signed s, each pair's sum times its int16 scale.
TRAMONTANE_AVX2 inline __m256i scaled_add(__m256i acc, __m256i u, __m256i s, __m256i scale) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale));
}
#include "quant_tile_32.inc"
#include "quant_tile_k.inc"
#undef KERNEL_TARGET
}  // namespace avx2

namespace vnni {
constexpr bool kWideTiles = true;  // 32 registers (AVX-512VL): 4 tokens × 4 rows
constexpr bool kVnni = true;
constexpr int kKRows = 2;  // K formats: 4 tokens × 2 rows
#define KERNEL_TARGET __attribute__((target("avx2,f16c,avx512f,avx512vl,avx512vnni")))
KERNEL_TARGET inline __m256i byte_dot(__m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}
KERNEL_TARGET inline __m256i scaled_add(__m256i acc, __m256i u, __m256i s, __m256i scale) {
  return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), scale);
}
#include "quant_tile_32.inc"
#include "quant_tile_k.inc"
#undef KERNEL_TARGET
}  // namespace vnni

}  // namespace

namespace {

// quant_dot.cpp's quantize_block, 8 values per step: the same products, rounding and
// clamp, so the same bytes.
TRAMONTANE_AVX2 float quantize_block_avx2(const float* x, int n, int8_t* q) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) amax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), amax);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  const float largest = std::max(_mm_cvtss_f32(m), _mm_cvtss_f32(_mm_shuffle_ps(m, m, 1)));
  if (!(largest > 0.f)) {
    std::memset(q, 0, size_t(n));
    return 0.f;
  }
  const __m256 inverse = _mm256_set1_ps(127.f / largest);
  const __m256 low = _mm256_set1_ps(-127.f), high = _mm256_set1_ps(127.f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int i = 0; i < n; i += 32) {
    __m256i v[4];
    for (int k = 0; k < 4; ++k) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), inverse),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v[k] = _mm256_cvtps_epi32(_mm256_max_ps(low, _mm256_min_ps(high, r)));
    }
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  return largest / 127.f;
}

}  // namespace

void quantize_activations_avx2(StoredType weights, const float* x, int64_t cols, void* out) {
  if (block_size(weights) == 256) {
    Q8KBlock* blocks = static_cast<Q8KBlock*>(out);
    for (int64_t b = 0; b < cols / 256; ++b) {
      Q8KBlock& block = blocks[b];
      block.d = quantize_block_avx2(x + 256 * b, 256, block.q);
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += block.q[16 * g + l];
        block.sums[g] = int16_t(sum);
      }
    }
    return;
  }
  Q8Block* blocks = static_cast<Q8Block*>(out);
  for (int64_t b = 0; b < cols / 32; ++b) {
    Q8Block& block = blocks[b];
    block.d = quantize_block_avx2(x + 32 * b, 32, block.q);
    int sum = 0;
    for (int l = 0; l < 32; ++l) sum += block.q[l];
    block.sum = sum;
  }
}

void dot_tile_avx2(StoredType type, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride, bool vnni) {
  const uint8_t* x = static_cast<const uint8_t*>(xq);
  if (block_size(type) == 256) {
    if (vnni) return vnni::tile_k(type, w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
    return avx2::tile_k(type, w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
  }
  if (vnni) return vnni::tile_32(type, w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
  avx2::tile_32(type, w, w_stride, rows, x, x_stride, tokens, blocks, out, out_stride);
}

}  // namespace tramontane::cpu

#else

namespace tramontane::cpu {
void quantize_activations_avx2(StoredType weights, const float* x, int64_t cols, void* out) {
  quantize_activations(weights, x, cols, out);
}

void dot_tile_avx2(StoredType type, const uint8_t* w, size_t w_stride, int rows, const void* xq, size_t x_stride,
                   int tokens, int64_t blocks, float* out, size_t out_stride, bool) {
  dot_tile_scalar(type, w, w_stride, rows, xq, x_stride, tokens, blocks, out, out_stride);
}
}  // namespace tramontane::cpu

#endif
