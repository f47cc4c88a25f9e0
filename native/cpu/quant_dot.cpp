#include "quant_dot.h"

#include "cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tramontane::cpu {

const char* quant_kernel_name(QuantKernel k) {
  switch (k) {
    case QuantKernel::Reference: return "reference";
    case QuantKernel::Scalar: return "scalar";
    case QuantKernel::Avx2: return "avx2";
    case QuantKernel::Vnni: return "vnni";
    case QuantKernel::Neon: return "neon";
  }
  return "?";
}

bool avx2_available() { return isa_supported(Isa::Avx2); }  // with F16C for the scales

bool vnni_available() {
#if defined(__x86_64__) || defined(__i386__)
  return avx2_available() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

bool neon_available() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

bool quant_kernel_available(QuantKernel k) {
  if (k == QuantKernel::Neon) return neon_available();
  if (k == QuantKernel::Vnni) return vnni_available();
  if (k == QuantKernel::Avx2) return avx2_available();
  return true;
}

namespace {

QuantKernel default_kernel() {
  const char* env = std::getenv("TRAMONTANE_QUANT_KERNEL");
  const std::string choice = env ? env : "";
  if (choice == "reference") return QuantKernel::Reference;
  if (choice == "scalar") return QuantKernel::Scalar;
  if (choice == "avx2" && avx2_available()) return QuantKernel::Avx2;
  if (neon_available()) return QuantKernel::Neon;
  if (vnni_available()) return QuantKernel::Vnni;
  return avx2_available() ? QuantKernel::Avx2 : QuantKernel::Scalar;
}

std::atomic<int>& active() {
  static std::atomic<int> kernel{int(default_kernel())};
  return kernel;
}

// Symmetric 8-bit: the largest magnitude maps to ±127, the rest round to nearest.
float quantize_block(const float* x, int n, int8_t* q) {
  float amax = 0.f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (!(amax > 0.f)) {
    std::memset(q, 0, size_t(n));
    return 0.f;
  }
  const float inverse = 127.f / amax;
  for (int i = 0; i < n; ++i) q[i] = int8_t(std::max(-127.f, std::min(127.f, std::nearbyint(x[i] * inverse))));
  return amax / 127.f;
}

}  // namespace

QuantKernel quant_kernel() { return QuantKernel(active().load(std::memory_order_relaxed)); }

void set_quant_kernel(QuantKernel k) {
  if (k == QuantKernel::Neon && !neon_available()) k = QuantKernel::Scalar;
  if (k == QuantKernel::Vnni && !vnni_available()) k = QuantKernel::Avx2;
  if (k == QuantKernel::Avx2 && !avx2_available()) k = QuantKernel::Scalar;
  active().store(int(k), std::memory_order_relaxed);
}

size_t q8_bytes(StoredType weights, int64_t cols) {
  return block_size(weights) == 256 ? size_t(cols / 256) * sizeof(Q8KBlock) : size_t(cols / 32) * sizeof(Q8Block);
}

void quantize_activations(StoredType weights, const float* x, int64_t cols, void* out) {
  if (block_size(weights) == 256) {
    Q8KBlock* blocks = static_cast<Q8KBlock*>(out);
    for (int64_t b = 0; b < cols / 256; ++b) {
      Q8KBlock& block = blocks[b];
      block.d = quantize_block(x + 256 * b, 256, block.q);
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += block.q[16 * g + l];
        block.sums[g] = int16_t(sum);
      }
    }
  } else {
    Q8Block* blocks = static_cast<Q8Block*>(out);
    for (int64_t b = 0; b < cols / 32; ++b) {
      Q8Block& block = blocks[b];
      block.d = quantize_block(x + 32 * b, 32, block.q);
      int sum = 0;
      for (int l = 0; l < 32; ++l) sum += block.q[l];
      block.sum = sum;
    }
  }
}

void dot_tile(QuantKernel kernel, StoredType weights, const uint8_t* w, size_t w_stride, int rows, const void* xq,
              size_t x_stride, int tokens, int64_t blocks, float* out, size_t out_stride) {
  if (kernel == QuantKernel::Avx2 || kernel == QuantKernel::Vnni) {
    return dot_tile_avx2(weights, w, w_stride, rows, xq, x_stride, tokens, blocks, out, out_stride,
                         kernel == QuantKernel::Vnni);
  }
  const bool neon = weights != StoredType::Q2_K && weights != StoredType::Q3_K;  // no NEON kernel for these
  if (neon && kernel == QuantKernel::Neon) return dot_tile_neon(weights, w, w_stride, rows, xq, x_stride, tokens, blocks, out, out_stride);
  dot_tile_scalar(weights, w, w_stride, rows, xq, x_stride, tokens, blocks, out, out_stride);
}

float quant_dot(QuantKernel kernel, StoredType weights, const void* w_row, const void* xq, int64_t cols) {
  float out;
  dot_tile(kernel, weights, static_cast<const uint8_t*>(w_row), 0, 1, xq, 0, 1, cols / block_size(weights), &out, 1);
  return out;
}

}  // namespace tramontane::cpu
