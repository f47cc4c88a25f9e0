// Device-side fills: pseudo-random weights for benchmarks and tests (generated on the
// GPU, 14 GB of them in seconds), constants, and raw bit patterns for NaN poisoning.
#include "ops.h"
#include "weight_planes.h"

namespace tramontane::cuda {
namespace {

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t i) {
  return float(mix64(seed * 0x632be59bd9b4e019ull + i) >> 40) * (1.f / 16777216.f);
}

__global__ void fill_f16_kernel(f16* p, size_t n, uint64_t seed, float lo, float span) {
  pdl_enter();
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2half_rn(lo + span * uniform01(seed, i));
}
__global__ void fill_f32_kernel(float* p, size_t n, uint64_t seed, float lo, float span) {
  pdl_enter();
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = lo + span * uniform01(seed, i);
}
template <typename T>
__global__ void fill_value_kernel(T* p, size_t n, T value) {
  pdl_enter();
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = value;
}

__global__ void fill_bytes_kernel(uint8_t* p, size_t n, uint64_t seed) {
  pdl_enter();
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = uint8_t(mix64(seed * 0x632be59bd9b4e019ull + i) >> 56);
}
// Per group a scale s within ±10% of `scale`; affine formats also get m = −bias·s.
__global__ void fill_scales_kernel(uint16_t* p, size_t groups, uint64_t seed, float scale,
                                   bool affine, float bias) {
  pdl_enter();
  for (size_t g = blockIdx.x * size_t(blockDim.x) + threadIdx.x; g < groups;
       g += size_t(gridDim.x) * blockDim.x) {
    const float s = scale * (0.9f + 0.2f * uniform01(seed, g));
    if (affine) {
      p[2 * g] = __half_as_ushort(__float2half_rn(s));
      p[2 * g + 1] = __half_as_ushort(__float2half_rn(-bias * s));
    } else {
      p[g] = __half_as_ushort(__float2half_rn(s));
    }
  }
}

dim3 grid_for(size_t n) {
  const size_t blocks = (n + 255) / 256;
  return dim3(unsigned(blocks < 65536 ? (blocks ? blocks : 1) : 65536));
}

}  // namespace

void fill_uniform(const Launch& l, f16* p, size_t n, uint64_t seed, float lo, float hi) {
  launch(l, fill_f16_kernel, grid_for(n), dim3(256), 0, p, n, seed, lo, hi - lo);
}
void fill_uniform(const Launch& l, float* p, size_t n, uint64_t seed, float lo, float hi) {
  launch(l, fill_f32_kernel, grid_for(n), dim3(256), 0, p, n, seed, lo, hi - lo);
}
void fill_int(const Launch& l, int* p, size_t n, int value) {
  launch(l, fill_value_kernel<int>, grid_for(n), dim3(256), 0, p, n, value);
}
void fill_u16(const Launch& l, void* p, size_t n, uint16_t value) {
  launch(l, fill_value_kernel<uint16_t>, grid_for(n), dim3(256), 0, static_cast<uint16_t*>(p), n,
         value);
}
void fill_u32(const Launch& l, void* p, size_t n, uint32_t value) {
  launch(l, fill_value_kernel<uint32_t>, grid_for(n), dim3(256), 0, static_cast<uint32_t*>(p), n,
         value);
}

void fill_random_planes(const Launch& l, const DeviceMatrix& m, uint64_t seed, float scale) {
  const PlaneFormat f = plane_format(m.type);
  const PlaneRowBytes rb = plane_row_bytes(f, m.cols);
  const size_t rows = size_t(m.rows);
  launch(l, fill_bytes_kernel, grid_for(rows * rb.codes), dim3(256), 0, m.codes, rows * rb.codes,
         seed);
  if (rb.high)
    launch(l, fill_bytes_kernel, grid_for(rows * rb.high), dim3(256), 0, m.high, rows * rb.high,
           seed + 1);
  const size_t groups = rows * size_t(m.cols / f.group);
  const float bias = float(1 << (f.bits - 1));
  launch(l, fill_scales_kernel, grid_for(groups), dim3(256), 0, m.scales, groups, seed + 2,
         scale / bias, f.affine, bias);
}

}  // namespace tramontane::cuda
