// Flash-decoding over the rolling-buffer cache, for 1 to 8 queries whose keys and values
// are already in the cache (gemv_qkv wrote them).
//
// Grid (split, kv_head, query). A block reads the keys and values of one KV head over one
// split of the window exactly once and serves every query head of the group with them
// (GQA). Query i at position p = *d_pos + i attends positions max(0, p − W + 1) .. p, in
// slots (position mod C). The window is cut into at most gridDim.x splits of a multiple
// of 32 keys, so short contexts use few blocks and long ones fill the card.
//
// In a block: 8 half-warps; a half-warp takes one key at a time, each lane holding
// head_dim/16 dimensions (16-byte loads for head_dim 128). Scores go to shared memory
// (log2 domain: q is pre-scaled by log2(e)/sqrt(d)), then a softmax per head, then the
// half-warps accumulate p·V and reduce through shared memory. Each block writes its
// unnormalized output with (max, sum); the last block of a (query, KV head) to finish,
// found by an atomic counter, merges the splits and resets the counter.
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kUnroll = 4;  // keys in flight per half-warp

template <int N>
struct BfVec;
template <>
struct BfVec<8> {
  uint4 v;
  __device__ void load(const bf16* p) { v = *reinterpret_cast<const uint4*>(p); }
  __device__ void zero() { v = make_uint4(0, 0, 0, 0); }
  __device__ void to_float(float* f) const { unpack8(v, f); }
};
template <>
struct BfVec<4> {
  uint2 v;
  __device__ void load(const bf16* p) { v = *reinterpret_cast<const uint2*>(p); }
  __device__ void zero() { v = make_uint2(0, 0); }
  __device__ void to_float(float* f) const {
    f[0] = bf16_lo(v.x); f[1] = bf16_hi(v.x); f[2] = bf16_lo(v.y); f[3] = bf16_hi(v.y);
  }
};

template <int G, int HD>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                            const bf16* __restrict__ v_cache, const int* __restrict__ d_pos,
                            int n_heads, int n_kv_heads, int capacity, int window,
                            float scale_log2, float* part_o, float* part_ml, int* counters,
                            bf16* __restrict__ out) {
  constexpr int DPL = HD / 16;  // dimensions per lane of a half-warp
  constexpr int kScoreFloats = G * kDecodeMaxChunk;
  constexpr int kReduceFloats = 8 * G * HD;
  constexpr int kSmemFloats = kScoreFloats > kReduceFloats ? kScoreFloats : kReduceFloats;
  __shared__ float smem[kSmemFloats];  // scores/probabilities, later the p·V partials
  __shared__ float s_m[G], s_l[G];
  __shared__ int s_last;
  float* s_p = smem;    // [G][kDecodeMaxChunk]
  float* s_red = smem;  // [8][G][HD]

  const int split = blockIdx.x, kvh = blockIdx.y, qi = blockIdx.z;
  const int splits = gridDim.x;
  const int tid = threadIdx.x, hw = tid >> 4, hl = tid & 15;
  const int lane = tid & 31, warp = tid >> 5;

  pdl_enter();
  const int pos = *d_pos + qi;
  const int lo = window > 0 ? max(0, pos - window + 1) : 0;
  const int len = pos - lo + 1;
  int chunk = (len + splits - 1) / splits;
  chunk = max(32, (chunk + 31) / 32 * 32);
  const int active = (len + chunk - 1) / chunk;
  if (split >= active) return;
  const int kb = lo + split * chunk;  // first position of this split
  const int nk = min(chunk, pos + 1 - kb);

  // This lane's slice of each query head of the group, scaled for exp2.
  float qf[G][DPL];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    BfVec<DPL> v;
    v.load(q + (size_t(qi) * n_heads + kvh * G + g) * HD + DPL * hl);
    v.to_float(qf[g]);
#pragma unroll
    for (int d = 0; d < DPL; ++d) qf[g][d] *= scale_log2;
  }

  const bf16* kbase = k_cache + size_t(kvh) * capacity * HD + DPL * hl;
  const bf16* vbase = v_cache + size_t(kvh) * capacity * HD + DPL * hl;

  // Scores. The loop bounds are uniform over the block so the shuffles stay converged.
  for (int base = 0; base < nk; base += 8 * kUnroll) {
    BfVec<DPL> kv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + hw + 8 * u;
      if (j < nk) kv[u].load(kbase + size_t((kb + j) % capacity) * HD);
      else kv[u].zero();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + hw + 8 * u;
      float kf[DPL];
      kv[u].to_float(kf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float d = 0.f;
#pragma unroll
        for (int e = 0; e < DPL; ++e) d += qf[g][e] * kf[e];
        d += __shfl_xor_sync(0xffffffffu, d, 8);
        d += __shfl_xor_sync(0xffffffffu, d, 4);
        d += __shfl_xor_sync(0xffffffffu, d, 2);
        d += __shfl_xor_sync(0xffffffffu, d, 1);
        if (hl == 0 && j < nk) s_p[g * kDecodeMaxChunk + j] = d;
      }
    }
  }
  __syncthreads();

  // Softmax statistics per head (a warp per head).
  for (int g = warp; g < G; g += kThreads / 32) {
    float* row = s_p + g * kDecodeMaxChunk;
    float m = -FLT_MAX;
    for (int j = lane; j < nk; j += 32) m = fmaxf(m, row[j]);
    m = warp_max(m);
    float l = 0.f;
    for (int j = lane; j < nk; j += 32) {
      const float p = exp2f(row[j] - m);
      row[j] = p;
      l += p;
    }
    l = warp_sum(l);
    if (lane == 0) {
      s_m[g] = m;
      s_l[g] = l;
    }
  }
  __syncthreads();

  // p · V: half-warp hw takes keys hw, hw + 8, ...
  float acc[G][DPL];
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int e = 0; e < DPL; ++e) acc[g][e] = 0.f;
  for (int base = 0; base < nk; base += 8 * kUnroll) {
    BfVec<DPL> vv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + hw + 8 * u;
      if (j < nk) vv[u].load(vbase + size_t((kb + j) % capacity) * HD);
      else vv[u].zero();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = base + hw + 8 * u;
      if (j >= nk) continue;
      float vf[DPL];
      vv[u].to_float(vf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float p = s_p[g * kDecodeMaxChunk + j];
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[g][e] += p * vf[e];
      }
    }
  }
  __syncthreads();  // s_p is read by all; s_red reuses it
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int e = 0; e < DPL; ++e) s_red[(hw * G + g) * HD + DPL * hl + e] = acc[g][e];
  __syncthreads();

  const int active_splits = active;
  for (int i = tid; i < G * HD; i += kThreads) {
    const int g = i / HD, d = i % HD;
    float o = 0.f;
#pragma unroll
    for (int h = 0; h < 8; ++h) o += s_red[(h * G + g) * HD + d];
    const int head = kvh * G + g;
    if (active_splits == 1) {
      out[(size_t(qi) * n_heads + head) * HD + d] = __float2bfloat16_rn(o / s_l[g]);
    } else {
      part_o[((size_t(qi) * n_heads + head) * splits + split) * HD + d] = o;
    }
  }
  if (active_splits == 1) return;
  if (tid < G) {
    float* ml = part_ml + ((size_t(qi) * n_heads + kvh * G + tid) * splits + split) * 2;
    ml[0] = s_m[tid];
    ml[1] = s_l[tid];
  }

  // The last block of this (query, KV head) merges the splits.
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    const int prev = atomicAdd(&counters[qi * n_kv_heads + kvh], 1);
    s_last = prev == active_splits - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  for (int i = tid; i < G * HD; i += kThreads) {
    const int g = i / HD, d = i % HD;
    const int head = kvh * G + g;
    const float* ml = part_ml + (size_t(qi) * n_heads + head) * splits * 2;
    const float* po = part_o + (size_t(qi) * n_heads + head) * splits * HD;
    float m = -FLT_MAX;
    for (int s = 0; s < active_splits; ++s) m = fmaxf(m, __ldcg(ml + 2 * s));
    float l = 0.f, o = 0.f;
    for (int s = 0; s < active_splits; ++s) {
      const float f = exp2f(__ldcg(ml + 2 * s) - m);
      l += __ldcg(ml + 2 * s + 1) * f;
      o += __ldcg(po + size_t(s) * HD + d) * f;
    }
    out[(size_t(qi) * n_heads + head) * HD + d] = __float2bfloat16_rn(o / l);
  }
  if (tid == 0) counters[qi * n_kv_heads + kvh] = 0;
}

template <int G, int HD>
void run(const Launch& l, const bf16* q, const bf16* kc, const bf16* vc, const int* d_pos, int nq,
         const AttnShape& a, const DecodeScratch& s, bf16* out) {
  const float scale_log2 = 1.4426950408889634f / sqrtf(float(HD));
  launch(l, attention_decode_kernel<G, HD>, dim3(s.max_splits, a.n_kv_heads, nq), dim3(kThreads),
         0, q, kc, vc, d_pos, a.n_heads, a.n_kv_heads, a.capacity, a.window, scale_log2,
         s.part_o, s.part_ml, s.counters, out);
}

template <int HD>
void run_hd(const Launch& l, const bf16* q, const bf16* kc, const bf16* vc, const int* d_pos,
            int nq, const AttnShape& a, const DecodeScratch& s, bf16* out) {
  switch (a.group()) {
    case 1: return run<1, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 2: return run<2, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 4: return run<4, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 8: return run<8, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    default: throw Error("attention_decode: query heads per KV head must be 1, 2, 4 or 8");
  }
}

}  // namespace

int decode_splits_for(const AttnShape& a) {
  const int longest = a.window > 0 ? a.window : a.capacity;
  const int for_length = ceil_div(longest, kDecodeMaxChunk);
  const int to_fill = ceil_div(256, a.n_kv_heads);  // about two blocks per SM
  return for_length > to_fill ? for_length : to_fill;
}

void attention_decode(const Launch& l, const bf16* q, const bf16* k_cache, const bf16* v_cache,
                      const int* d_pos, int nq, const AttnShape& a, const DecodeScratch& s,
                      bf16* out) {
  if (nq < 1 || nq > s.max_queries) throw Error("attention_decode: too many queries");
  if (a.n_heads % a.n_kv_heads != 0) throw Error("attention_decode: bad head counts");
  const int longest = a.window > 0 ? a.window : a.capacity;
  if (ceil_div(longest, s.max_splits) > kDecodeMaxChunk)
    throw Error("attention_decode: too few splits for the window");
  switch (a.head_dim) {
    case 128: return run_hd<128>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    case 64: return run_hd<64>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    default: throw Error("attention_decode: head_dim must be 64 or 128");
  }
}

}  // namespace tramontane::cuda
