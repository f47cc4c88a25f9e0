// Prefill attention, the simple version: one block per (query, head), fp32 throughout,
// an online softmax per warp merged at the end. Also the only attention kernel compiled
// for the small head sizes of test models (8, 16, 32). Slow, obviously right; the tiled
// tensor-core kernel in attention_prefill.cu is checked against it on the device.
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

template <int HD>
__global__ void __launch_bounds__(128)
    attention_prefill_simple_kernel(const f16* __restrict__ q, const f16* __restrict__ k_new,
                                    const f16* __restrict__ v_new,
                                    const f16* __restrict__ k_cache,
                                    const f16* __restrict__ v_cache, int n, int pos0,
                                    int n_heads, int n_kv_heads, int capacity, int window,
                                    float scale, f16* __restrict__ out) {
  // Dimensions per lane; a head narrower than a warp leaves lanes HD.. idle.
  constexpr int DPL = HD >= 32 ? HD / 32 : 1;
  const bool active = (threadIdx.x & 31) * DPL < HD;
  __shared__ float s_m[4], s_l[4];
  __shared__ float s_o[4][HD];
  pdl_enter();
  const int tok = blockIdx.x, head = blockIdx.y, kvh = head / (n_heads / n_kv_heads);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int qpos = pos0 + tok;
  const int lo = window > 0 ? max(0, qpos - window + 1) : 0;

  float qf[DPL];
  const f16* qrow = q + (size_t(tok) * n_heads + head) * HD;
  for (int e = 0; e < DPL; ++e) qf[e] = active ? __half2float(qrow[lane * DPL + e]) * scale : 0.f;

  float m = -FLT_MAX, l = 0.f, acc[DPL];
  for (int e = 0; e < DPL; ++e) acc[e] = 0.f;
  for (int kp = lo + warp; kp <= qpos; kp += 4) {
    const f16* krow;
    const f16* vrow;
    if (kp >= pos0) {
      krow = k_new + (size_t(kvh) * n + (kp - pos0)) * HD;
      vrow = v_new + (size_t(kvh) * n + (kp - pos0)) * HD;
    } else {
      krow = k_cache + (size_t(kvh) * capacity + kp % capacity) * HD;
      vrow = v_cache + (size_t(kvh) * capacity + kp % capacity) * HD;
    }
    float s = 0.f;
    if (active)
      for (int e = 0; e < DPL; ++e) s += qf[e] * __half2float(krow[lane * DPL + e]);
    s = warp_sum(s);
    const float m_new = fmaxf(m, s);
    const float f = __expf(m - m_new), p = __expf(s - m_new);
    l = l * f + p;
    if (active)
      for (int e = 0; e < DPL; ++e) acc[e] = acc[e] * f + p * __half2float(vrow[lane * DPL + e]);
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
  if (active)
    for (int e = 0; e < DPL; ++e) s_o[warp][lane * DPL + e] = acc[e];
  __syncthreads();
  float mm = -FLT_MAX;
  for (int w = 0; w < 4; ++w) mm = fmaxf(mm, s_m[w]);
  float ll = 0.f;
  for (int w = 0; w < 4; ++w) ll += s_l[w] * __expf(s_m[w] - mm);
  for (int d = threadIdx.x; d < HD; d += blockDim.x) {
    float o = 0.f;
    for (int w = 0; w < 4; ++w) o += s_o[w][d] * __expf(s_m[w] - mm);
    out[(size_t(tok) * n_heads + head) * HD + d] = __float2half_rn(o / ll);
  }
}

}  // namespace

void attention_prefill_simple(const Launch& l, const f16* q, const f16* k_new,
                              const f16* v_new, const f16* k_cache, const f16* v_cache,
                              int n, int pos0, const AttnShape& a, f16* out) {
  if (n <= 0) return;
  const float scale = 1.f / sqrtf(float(a.head_dim));
  auto go = [&](auto kernel) {
    launch(l, kernel, dim3(n, a.n_heads), dim3(128), 0, q, k_new, v_new, k_cache, v_cache, n,
           pos0, a.n_heads, a.n_kv_heads, a.capacity, a.window, scale, out);
  };
  switch (a.head_dim) {
    case 128: return go(attention_prefill_simple_kernel<128>);
    case 64: return go(attention_prefill_simple_kernel<64>);
    case 32: return go(attention_prefill_simple_kernel<32>);
    case 16: return go(attention_prefill_simple_kernel<16>);
    case 8: return go(attention_prefill_simple_kernel<8>);
    default: throw Error("attention_prefill_simple: head_dim must be 8, 16, 32, 64 or 128");
  }
}

}  // namespace tramontane::cuda
