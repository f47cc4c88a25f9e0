// Shared pieces of the CUDA backend: error checks, the launch helper (with programmatic
// dependent launch), f16 packing and the few PTX instructions the kernels use.
//
// Conventions for every kernel in this folder:
//   - weights are f16 (IEEE half), row-major [out][in] (PyTorch nn.Linear layout);
//   - the residual stream is fp32 [n][dim]; inputs to matrix products are f16 (11
//     significant bits, 8× finer than bf16: see NOTES.md on precision);
//   - the KV cache is f16 [layer][kv_head][slot][head_dim], keys after RoPE,
//     position p in slot p mod C;
//   - a kernel launched with programmatic dependent launch (PDL) calls pdl_wait()
//     before it reads anything an earlier kernel wrote, and before it writes anything;
//     only weights (never written) may be touched before that.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "tramontane/engine.h"

namespace tramontane::cuda {

using f16 = __half;

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file,
                                          int line) {
  throw Error(std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + what + " at " +
              file + ":" + std::to_string(line) + ")");
}

#define TR_CUDA_CHECK(expr)                                                          \
  do {                                                                               \
    cudaError_t tr_err_ = (expr);                                                    \
    if (tr_err_ != cudaSuccess)                                                      \
      ::tramontane::cuda::throw_cuda_error(tr_err_, #expr, __FILE__, __LINE__);      \
  } while (0)

// Where and how kernels are launched. pdl lets a kernel start (and prefetch weights)
// while the previous one drains; it is off for launches that must not overlap.
struct Launch {
  cudaStream_t stream = nullptr;
  bool pdl = true;
};

// Launches kernel<<<grid, block, smem, stream>>>(args...) and checks both the launch
// and the last error.
template <typename... KArgs, typename... Args>
inline void launch(const Launch& where, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                   size_t smem, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = where.stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = where.pdl ? 1 : 0;
  TR_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
  TR_CUDA_CHECK(cudaGetLastError());
}

// Raises a kernel's dynamic shared-memory limit once (the attribute call is slow enough
// to show in per-launch timings, and launches happen by the hundred per token).
inline void allow_dynamic_smem(const void* kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return;
  static std::mutex mu;
  static std::unordered_map<const void*, size_t> raised;
  std::lock_guard<std::mutex> lock(mu);
  size_t& done = raised[kernel];
  if (done >= bytes) return;
  TR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  done = bytes;
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// --- device helpers ------------------------------------------------------------------

// Programmatic dependent launch: wait for the previous kernel's results, then let the
// next kernel be scheduled. No-ops when launched without the attribute.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Both, in the only order this backend uses (see the note at the top).
__device__ __forceinline__ void pdl_enter() {
  pdl_wait();
  pdl_launch_dependents();
}

// 16-byte load of data read once (weights): bypass L1, and let a miss bring the whole
// 256-byte block into L2 (the gemv kernels read each row in 256-byte runs).
__device__ __forceinline__ uint4 ld_stream(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

// f16 <-> fp32, on f16 pairs packed in 32 bits (the low half is the first element).
__device__ __forceinline__ float f16_lo(uint32_t packed) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(packed & 0xffffu)));
}
__device__ __forceinline__ float f16_hi(uint32_t packed) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(packed >> 16)));
}
__device__ __forceinline__ uint32_t pack_f16x2(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// Saturating at ±65504 (the largest f16) instead of overflowing to infinity: for
// outputs with no natural bound (the SwiGLU product).
__device__ __forceinline__ float clamp_f16_range(float x) { return fminf(fmaxf(x, -65504.f), 65504.f); }
__device__ __forceinline__ f16 to_f16_sat(float x) { return __float2half_rn(clamp_f16_range(x)); }
__device__ __forceinline__ uint32_t pack_f16x2_sat(float lo, float hi) {
  return pack_f16x2(clamp_f16_range(lo), clamp_f16_range(hi));
}
__device__ __forceinline__ void unpack8(const uint4& v, float* f) {
  f[0] = f16_lo(v.x); f[1] = f16_hi(v.x);
  f[2] = f16_lo(v.y); f[3] = f16_hi(v.y);
  f[4] = f16_lo(v.z); f[5] = f16_hi(v.z);
  f[6] = f16_lo(v.w); f[7] = f16_hi(v.w);
}

// D = A·B + D, one m16n8k16 f16 tensor-core product with fp32 accumulators.
// Fragment layout (g = lane / 4, t = lane % 4):
//   a0: A[g][2t..2t+1]   a1: A[g+8][2t..2t+1]   a2: A[g][2t+8..]   a3: A[g+8][2t+8..]
//   b0: B[2t..2t+1][g]   b1: B[2t+8..2t+9][g]
//   d0,d1: D[g][2t..2t+1]   d2,d3: D[g+8][2t..2t+1]
__device__ __forceinline__ void mma_f16_16816(float* d, uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024). `scratch` holds 32
// floats. Every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x >> 5;
  float total = 0.f;
  for (int w = 0; w < nwarps; ++w) total += scratch[w];  // fixed order: deterministic
  return total;
}

__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }

}  // namespace tramontane::cuda
