// Flash-decoding over the rolling-buffer cache, for 1 to 8 queries whose keys and values
// are already in the cache (gemv_qkv wrote them).
//
// Grid (split, kv_head). Query i sits at position p_i = *d_pos + i and attends positions
// max(0, p_i − W + 1) .. p_i, in slots (position mod C). The union of the queries' ranges
// is cut into at most gridDim.x splits of a multiple of 16 keys (at least 32, at most
// kDecodeMaxChunk), so short contexts use few blocks and long ones fill the card.
//
// A block copies its split's keys and values of one KV head into shared memory with
// cp.async, all loads issued at once (values stream in while scores are computed), so
// each byte of the cache is read from memory once for every query and every query head
// of the group (GQA). Scores: a half-warp per key, each lane holding head_dim/16
// dimensions; log2 domain (q pre-scaled by log2(e)/sqrt(d)). Then a softmax per (query,
// head) row, p·V per query reduced over the half-warps, and the block's unnormalized
// output with its (max, sum). A second kernel merges the splits: one block per (query,
// head), every partial load in flight at once. With a single split (short contexts) the
// first kernel writes the output itself and the merge returns at once.
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxSplits = 1024;  // 128K positions

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

template <int N>
__device__ __forceinline__ void load_f(const bf16* p, float* f) {
  if constexpr (N == 8) {
    unpack8(*reinterpret_cast<const uint4*>(p), f);
  } else {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    f[0] = bf16_lo(v.x); f[1] = bf16_hi(v.x); f[2] = bf16_lo(v.y); f[3] = bf16_hi(v.y);
  }
}

// Keys per split: a multiple of 16, at least 32. The host sizes shared memory for the
// largest chunk its split count allows (chunk_cap); both kernels use the same rule.
__host__ __device__ __forceinline__ int chunk_for(int len, int splits) {
  const int c = (len + splits - 1) / splits;
  const int r = (c + 15) / 16 * 16;
  return r > 32 ? r : 32;
}

// Shared memory: K tile (later the p·V reduction), V tile, scores [nq·G][chunk_cap].
template <int G, int HD>
size_t smem_bytes(int nq, int chunk_cap) {
  const size_t tile = size_t(chunk_cap) * HD * sizeof(bf16);
  const size_t red = size_t(8) * G * HD * sizeof(float);
  return (tile > red ? tile : red) + tile + size_t(nq) * G * chunk_cap * sizeof(float);
}

template <int G, int HD>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k_cache,
                            const bf16* __restrict__ v_cache, const int* __restrict__ d_pos, int nq,
                            int n_heads, int capacity, int window, int chunk_cap, float scale_log2,
                            float* part_o, float* part_ml, bf16* __restrict__ out) {
  constexpr int DPL = HD / 16;  // dimensions per lane of a half-warp
  constexpr int CH = HD / 8;    // 16-byte chunks per row
  const size_t tile_elems = size_t(chunk_cap) * HD;
  constexpr size_t kRedBytes = size_t(8) * G * HD * sizeof(float);
  extern __shared__ uint4 smem_dyn[];
  bf16* sk = reinterpret_cast<bf16*>(smem_dyn);
  float* s_red = reinterpret_cast<float*>(smem_dyn);  // reuses the K tile after the scores
  const size_t first_bytes = tile_elems * sizeof(bf16) > kRedBytes ? tile_elems * sizeof(bf16) : kRedBytes;
  bf16* sv = reinterpret_cast<bf16*>(reinterpret_cast<char*>(smem_dyn) + first_bytes);
  float* s_p = reinterpret_cast<float*>(sv + tile_elems);  // [nq·G][chunk_cap]
  __shared__ float s_m[kGemvMaxTokens * G], s_l[kGemvMaxTokens * G];

  const int split = blockIdx.x, kvh = blockIdx.y;
  const int splits = gridDim.x;
  const int tid = threadIdx.x, hw = tid >> 4, hl = tid & 15;
  const int lane = tid & 31, warp = tid >> 5;
  const int rows = nq * G;

  pdl_enter();
  const int pos0 = *d_pos;
  const int last = pos0 + nq - 1;
  const int lo = window > 0 ? max(0, pos0 - window + 1) : 0;  // first query's first key
  const int len = last - lo + 1;
  const int chunk = chunk_for(len, splits);
  const int active = (len + chunk - 1) / chunk;
  if (split >= active) return;
  const int kb = lo + split * chunk;
  const int nk = min(chunk, last + 1 - kb);

  // Keys, then values, into shared memory: every load in flight at once.
  const bf16* kbase = k_cache + size_t(kvh) * capacity * HD;
  const bf16* vbase = v_cache + size_t(kvh) * capacity * HD;
  for (int i = tid; i < nk * CH; i += kThreads) {
    const int j = i / CH, c = i % CH;
    cp_async16(sk + j * HD + c * 8, kbase + size_t((kb + j) % capacity) * HD + c * 8);
  }
  cp_async_commit();
  for (int i = tid; i < nk * CH; i += kThreads) {
    const int j = i / CH, c = i % CH;
    cp_async16(sv + j * HD + c * 8, vbase + size_t((kb + j) % capacity) * HD + c * 8);
  }
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();

  // Scores for every (query, head) row; keys outside a query's window are -inf.
  for (int qi = 0; qi < nq; ++qi) {
    const int qp = pos0 + qi;
    const int qlo = window > 0 ? max(0, qp - window + 1) : 0;
    float qf[G][DPL];
#pragma unroll
    for (int g = 0; g < G; ++g) {
      load_f<DPL>(q + (size_t(qi) * n_heads + kvh * G + g) * HD + DPL * hl, qf[g]);
#pragma unroll
      for (int e = 0; e < DPL; ++e) qf[g][e] *= scale_log2;
    }
    // Four keys per half-warp per round, independent: their shuffles overlap. The loop
    // bounds are uniform over the block so the shuffles stay converged.
    for (int base = 0; base < nk; base += 32) {
      float kf[4][DPL];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int j = base + hw + 8 * u;
        if (j < nk) load_f<DPL>(sk + j * HD + DPL * hl, kf[u]);
        else
#pragma unroll
          for (int e = 0; e < DPL; ++e) kf[u][e] = 0.f;
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float d[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          d[u] = 0.f;
#pragma unroll
          for (int e = 0; e < DPL; ++e) d[u] += qf[g][e] * kf[u][e];
        }
#pragma unroll
        for (int o = 8; o > 0; o >>= 1)
#pragma unroll
          for (int u = 0; u < 4; ++u) d[u] += __shfl_xor_sync(0xffffffffu, d[u], o);
        if (hl == 0) {
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const int j = base + hw + 8 * u;
            const int kp = kb + j;
            if (j < nk) s_p[(qi * G + g) * chunk_cap + j] = kp >= qlo && kp <= qp ? d[u] : -INFINITY;
          }
        }
      }
    }
  }
  __syncthreads();

  // Softmax statistics per row (a warp per row). A row with nothing visible in this split
  // keeps m = -inf, l = 0 and contributes nothing when merged.
  for (int r = warp; r < rows; r += kThreads / 32) {
    float* row = s_p + r * chunk_cap;
    float m = -INFINITY;
    for (int j = lane; j < nk; j += 32) m = fmaxf(m, row[j]);
    m = warp_max(m);
    const float mu = m == -INFINITY ? 0.f : m;
    float l = 0.f;
    for (int j = lane; j < nk; j += 32) {
      const float p = exp2f(row[j] - mu);
      row[j] = p;
      l += p;
    }
    l = warp_sum(l);
    if (lane == 0) {
      s_m[r] = m;
      s_l[r] = l;
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // p · V per query: half-warp hw takes keys hw, hw + 8, ...; reduce over half-warps.
  for (int qi = 0; qi < nq; ++qi) {
    float acc[G][DPL];
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
      for (int e = 0; e < DPL; ++e) acc[g][e] = 0.f;
    for (int j = hw; j < nk; j += 8) {
      float vf[DPL];
      load_f<DPL>(sv + j * HD + DPL * hl, vf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float p = s_p[(qi * G + g) * chunk_cap + j];
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[g][e] += p * vf[e];
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
      for (int e = 0; e < DPL; ++e) s_red[(hw * G + g) * HD + DPL * hl + e] = acc[g][e];
    __syncthreads();
    for (int i = tid; i < G * HD; i += kThreads) {
      const int g = i / HD, d = i % HD;
      float o = 0.f;
#pragma unroll
      for (int h = 0; h < 8; ++h) o += s_red[(h * G + g) * HD + d];
      const int head = kvh * G + g;
      if (active == 1) {
        out[(size_t(qi) * n_heads + head) * HD + d] = __float2bfloat16_rn(o / s_l[qi * G + g]);
      } else {
        part_o[((size_t(qi) * n_heads + head) * splits + split) * HD + d] = o;
      }
    }
    __syncthreads();  // s_red is rewritten for the next query
  }
  if (active == 1) return;
  for (int r = tid; r < rows; r += kThreads) {
    const int qi = r / G, g = r % G;
    float* ml = part_ml + ((size_t(qi) * n_heads + kvh * G + g) * splits + split) * 2;
    ml[0] = s_m[r];
    ml[1] = s_l[r];
  }
}

// Merges the splits of one (query, head): grid (n_heads, nq), head_dim threads.
template <int HD>
__global__ void __launch_bounds__(HD)
    attention_merge_kernel(const int* __restrict__ d_pos, int n_heads, int window, int splits,
                           const float* __restrict__ part_o, const float* __restrict__ part_ml,
                           bf16* __restrict__ out) {
  __shared__ float s_w[kMaxSplits];
  __shared__ float s_inv;
  pdl_enter();
  const int head = blockIdx.x, qi = blockIdx.y;
  // The same split arithmetic as the attention kernel.
  const int pos0 = *d_pos, nq = gridDim.y;
  const int last = pos0 + nq - 1;
  const int lo = window > 0 ? max(0, pos0 - window + 1) : 0;
  const int len = last - lo + 1;
  const int chunk = chunk_for(len, splits);
  const int active = (len + chunk - 1) / chunk;
  if (active == 1) return;  // written directly
  const float* ml = part_ml + (size_t(qi) * n_heads + head) * splits * 2;
  const float* po = part_o + (size_t(qi) * n_heads + head) * splits * HD;
  if (threadIdx.x < 32) {
    float m = -INFINITY;
    for (int s = threadIdx.x; s < active; s += 32) m = fmaxf(m, ml[2 * s]);
    m = warp_max(m);
    float l = 0.f;
    for (int s = threadIdx.x; s < active; s += 32) {
      const float ms = ml[2 * s];
      const float w = ms == -INFINITY ? 0.f : exp2f(ms - m);
      s_w[s] = w;
      l += ml[2 * s + 1] * w;
    }
    l = warp_sum(l);
    if (threadIdx.x == 0) s_inv = 1.f / l;
  }
  __syncthreads();
  const int d = threadIdx.x;
  float o = 0.f;
#pragma unroll 8
  for (int s = 0; s < active; ++s) o += po[size_t(s) * HD + d] * s_w[s];
  out[(size_t(qi) * n_heads + head) * HD + d] = __float2bfloat16_rn(o * s_inv);
}

template <int G, int HD>
void run(const Launch& l, const bf16* q, const bf16* kc, const bf16* vc, const int* d_pos, int nq,
         const AttnShape& a, const DecodeScratch& s, bf16* out) {
  const float scale_log2 = 1.4426950408889634f / sqrtf(float(HD));
  const int longest = (a.window > 0 ? a.window : a.capacity) + nq - 1;
  const int chunk_cap = chunk_for(longest, s.max_splits);
  const size_t smem = smem_bytes<G, HD>(nq, chunk_cap);
  auto kernel = attention_decode_kernel<G, HD>;
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
  launch(l, kernel, dim3(s.max_splits, a.n_kv_heads), dim3(kThreads), smem, q, kc, vc, d_pos, nq,
         a.n_heads, a.capacity, a.window, chunk_cap, scale_log2, s.part_o, s.part_ml, out);
  launch(l, attention_merge_kernel<HD>, dim3(a.n_heads, nq), dim3(HD), 0, d_pos, a.n_heads,
         a.window, s.max_splits, s.part_o, s.part_ml, out);
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
  const int longest = (a.window > 0 ? a.window : a.capacity) + kGemvMaxTokens - 1;
  const int for_length = ceil_div(longest, kDecodeMaxChunk);
  const int to_fill = ceil_div(512, a.n_kv_heads);  // about four blocks per SM
  return for_length > to_fill ? for_length : to_fill;
}

void attention_decode(const Launch& l, const bf16* q, const bf16* k_cache, const bf16* v_cache,
                      const int* d_pos, int nq, const AttnShape& a, const DecodeScratch& s,
                      bf16* out) {
  if (nq < 1 || nq > s.max_queries || nq > kGemvMaxTokens)
    throw Error("attention_decode: too many queries");
  if (a.n_heads % a.n_kv_heads != 0) throw Error("attention_decode: bad head counts");
  const int longest = (a.window > 0 ? a.window : a.capacity) + nq - 1;
  if (chunk_for(longest, s.max_splits) > kDecodeMaxChunk)
    throw Error("attention_decode: too few splits for the window");
  if (s.max_splits > kMaxSplits) throw Error("attention_decode: context too long for the split merge");
  switch (a.head_dim) {
    case 128: return run_hd<128>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    case 64: return run_hd<64>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    default: throw Error("attention_decode: head_dim must be 64 or 128");
  }
}

}  // namespace tramontane::cuda
