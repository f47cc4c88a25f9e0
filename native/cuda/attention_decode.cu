// Flash-decoding over the rolling-buffer cache, for 1 to 8 queries whose keys and values
// are already in the cache (gemv_qkv wrote them).
//
// Grid (split, kv_head). Query i sits at position p_i = *d_pos + i and attends positions
// max(0, p_i − W + 1) .. p_i, in slots (position mod C). The union of the queries' ranges
// is cut into at most gridDim.x splits of a multiple of 16 keys (at least 32, at most
// kDecodeMaxChunk), so short contexts use few blocks; at long ones about one block per SM
// streams its split.
//
// A block copies its split's keys and values of one KV head into shared memory with
// cp.async, all loads issued at once (values stream in while scores are computed), so
// each byte of the cache is read from memory once for every query and every query head
// of the group (GQA). The rows of both products are the (query, head) pairs of the group
// (at most 8 × 8), padded to 16: S = Q·Kᵀ and O = P·V run on tensor cores (m16n8k16,
// fp32 accumulate), the softmax between them in fp32 in the log2 domain. Each block
// leaves its unnormalized output with its (max, sum); the last block of a KV head to
// finish (a counter per KV head, reset by that block) merges the splits of its query
// heads, so there is no second launch. With a single split (short contexts) the block
// writes the output itself.
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
// Two 8x8 f16 matrices, transposed: the B fragment of an m16n8k16 product whose k runs
// down the rows of shared memory (lanes 0..15 address rows k0 .. k0 + 15).
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(addr));
}
// p = hi + lo with both halves f16 (about 22 significant bits): P·V on tensor cores at
// nearly fp32 precision, for two products' worth of instructions.
__device__ __forceinline__ void split_f16x2(float2 v, uint32_t& hi, uint32_t& lo) {
  hi = pack_f16x2(v.x, v.y);
  lo = pack_f16x2(v.x - f16_lo(hi), v.y - f16_hi(hi));
}

// Keys per split: a multiple of 16, at least 32. The host sizes shared memory for the
// largest chunk its split count allows (chunk_cap); the kernel uses the same rule.
__host__ __device__ __forceinline__ int chunk_for(int len, int splits) {
  const int c = (len + splits - 1) / splits;
  const int r = (c + 15) / 16 * 16;
  return r > 32 ? r : 32;
}

// Shared memory: K and V tiles of chunk_cap rows, each row padded by 16 bytes (fragment
// loads free of bank conflicts), then scores/probabilities [nq·G][chunk_cap + 8] fp32.
template <int G, int HD>
size_t smem_bytes(int nq, int chunk_cap) {
  const size_t tile = size_t(chunk_cap) * (HD + 8) * sizeof(f16);
  return 2 * tile + size_t(nq) * G * (chunk_cap + 8) * sizeof(float);
}

template <int G, int HD>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(const f16* __restrict__ q, const f16* __restrict__ k_cache,
                            const f16* __restrict__ v_cache, const int* __restrict__ d_pos, int nq,
                            int n_heads, int capacity, int window, int chunk_cap, float scale_log2,
                            float* part_o, float* part_ml, int* done_count,
                            f16* __restrict__ out) {
  constexpr int RS = HD + 8;             // row stride of the K and V tiles (elements)
  constexpr int CH = HD / 8;             // 16-byte chunks per row
  constexpr int KS = HD / 16;            // k-steps of Q·Kᵀ
  constexpr int DT = HD / (8 * kWarps);  // 8-wide dimension tiles per warp in P·V
  static_assert(HD % (8 * kWarps) == 0, "head_dim must be a multiple of 64");
  extern __shared__ uint4 smem_dyn[];
  f16* sk = reinterpret_cast<f16*>(smem_dyn);
  f16* sv = sk + size_t(chunk_cap) * RS;
  float* sp = reinterpret_cast<float*>(sv + size_t(chunk_cap) * RS);  // [rows][ps]
  const int ps = chunk_cap + 8;
  __shared__ float s_m[kGemvMaxTokens * G], s_l[kGemvMaxTokens * G];
  __shared__ int s_last;

  const int split = blockIdx.x, kvh = blockIdx.y;
  const int splits = gridDim.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;  // mma fragment coordinates
  const int rows = nq * G;                // (query, head) rows: row r is query r / G
  const int row_tiles = (rows + 15) / 16;

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
  const int nk16 = (nk + 15) & ~15;  // P·V walks whole steps of 16 keys

  // Keys, then values, into shared memory: every load in flight at once.
  const f16* kbase = k_cache + size_t(kvh) * capacity * HD;
  const f16* vbase = v_cache + size_t(kvh) * capacity * HD;
  for (int i = tid; i < nk * CH; i += kThreads) {
    const int j = i / CH, c = i % CH;
    cp_async16(sk + j * RS + c * 8, kbase + size_t((kb + j) % capacity) * HD + c * 8);
  }
  cp_async_commit();
  for (int i = tid; i < nk * CH; i += kThreads) {
    const int j = i / CH, c = i % CH;
    cp_async16(sv + j * RS + c * 8, vbase + size_t((kb + j) % capacity) * HD + c * 8);
  }
  cp_async_commit();
  for (int i = tid; i < (nk16 - nk) * CH; i += kThreads) {  // value rows past the split: 0
    const int j = nk + i / CH, c = i % CH;
    *reinterpret_cast<uint4*>(sv + j * RS + c * 8) = make_uint4(0, 0, 0, 0);
  }
  cp_async_wait<1>();
  __syncthreads();

  // S = Q·Kᵀ on tensor cores: 16 rows × 8 keys per product; warp w takes the 8-key tiles
  // w, w + 8, ... Keys outside a query's window score -inf (log2 domain).
  for (int rt = 0; rt < row_tiles; ++rt) {
    const int r0 = rt * 16 + g, r1 = r0 + 8;
    auto q_row = [&](int r) -> const f16* {
      return r < rows ? q + (size_t(r / G) * n_heads + kvh * G + r % G) * HD : nullptr;
    };
    const f16* q0 = q_row(r0);
    const f16* q1 = q_row(r1);
    uint32_t qa[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      const int k = ks * 16 + 2 * t;
      qa[ks][0] = q0 ? *reinterpret_cast<const uint32_t*>(q0 + k) : 0u;
      qa[ks][1] = q1 ? *reinterpret_cast<const uint32_t*>(q1 + k) : 0u;
      qa[ks][2] = q0 ? *reinterpret_cast<const uint32_t*>(q0 + k + 8) : 0u;
      qa[ks][3] = q1 ? *reinterpret_cast<const uint32_t*>(q1 + k + 8) : 0u;
    }
    for (int nt = warp; nt * 8 < nk; nt += kWarps) {
      float sc[4] = {0.f, 0.f, 0.f, 0.f};
      const f16* krow = sk + (nt * 8 + g) * RS + 2 * t;
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + ks * 16);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + ks * 16 + 8);
        mma_f16_16816(sc, qa[ks][0], qa[ks][1], qa[ks][2], qa[ks][3], b0, b1);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {  // sc[0..1]: row r0, sc[2..3]: row r1; keys 2t, 2t+1
        const int r = e < 2 ? r0 : r1, j = nt * 8 + 2 * t + (e & 1);
        if (r >= rows || j >= nk) continue;
        const int qp = pos0 + r / G;
        const int qlo = window > 0 ? max(0, qp - window + 1) : 0;
        const int kp = kb + j;
        sp[r * ps + j] = kp >= qlo && kp <= qp ? sc[e] * scale_log2 : -INFINITY;
      }
    }
  }
  __syncthreads();

  // Softmax statistics per row (a warp per row); probabilities replace the scores. A row
  // with nothing visible in this split keeps m = -inf, l = 0 and contributes nothing.
  for (int r = warp; r < rows; r += kWarps) {
    float* row = sp + r * ps;
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
    for (int j = nk + lane; j < nk16; j += 32) row[j] = 0.f;
    l = warp_sum(l);
    if (lane == 0) {
      s_m[r] = m;
      s_l[r] = l;
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // O = P·V on tensor cores: warp w owns DT tiles of 8 dimensions for every row, and walks
  // the keys 16 at a time (P split into f16 hi + lo, V by ldmatrix.trans).
  for (int rt = 0; rt < row_tiles; ++rt) {
    const int r0 = rt * 16 + g, r1 = r0 + 8;
    const float* p0 = sp + r0 * ps + 2 * t;
    const float* p1 = sp + r1 * ps + 2 * t;
    float o[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    for (int k0 = 0; k0 < nk16; k0 += 16) {
      const float2 zero = make_float2(0.f, 0.f);
      const float2 v00 = r0 < rows ? *reinterpret_cast<const float2*>(p0 + k0) : zero;
      const float2 v10 = r1 < rows ? *reinterpret_cast<const float2*>(p1 + k0) : zero;
      const float2 v01 = r0 < rows ? *reinterpret_cast<const float2*>(p0 + k0 + 8) : zero;
      const float2 v11 = r1 < rows ? *reinterpret_cast<const float2*>(p1 + k0 + 8) : zero;
      uint32_t hi[4], lo[4];
      split_f16x2(v00, hi[0], lo[0]);
      split_f16x2(v10, hi[1], lo[1]);
      split_f16x2(v01, hi[2], lo[2]);
      split_f16x2(v11, hi[3], lo[3]);
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) {
        const int d0 = (warp * DT + dt) * 8;
        uint32_t b[2];
        ldmatrix_x2_trans(b, smem_addr(sv + (k0 + (lane & 15)) * RS + d0));
        mma_f16_16816(o[dt], hi[0], hi[1], hi[2], hi[3], b[0], b[1]);
        mma_f16_16816(o[dt], lo[0], lo[1], lo[2], lo[3], b[0], b[1]);
      }
    }
    // o[dt][0..1]: row r0, dimensions d0 + 2t, d0 + 2t + 1; o[dt][2..3]: row r1.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = half ? r1 : r0;
      if (r >= rows) continue;
      const size_t head_row = size_t(r / G) * n_heads + kvh * G + r % G;
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) {
        const int d = (warp * DT + dt) * 8 + 2 * t;
        const float x0 = o[dt][2 * half], x1 = o[dt][2 * half + 1];
        if (active == 1) {
          const float inv = 1.f / s_l[r];
          *reinterpret_cast<uint32_t*>(out + head_row * HD + d) = pack_f16x2(x0 * inv, x1 * inv);
        } else {
          *reinterpret_cast<float2*>(part_o + (head_row * splits + split) * HD + d) = make_float2(x0, x1);
        }
      }
    }
  }
  if (active == 1) return;
  for (int r = tid; r < rows; r += kThreads) {
    const int qi = r / G, g = r % G;
    float* ml = part_ml + ((size_t(qi) * n_heads + kvh * G + g) * splits + split) * 2;
    ml[0] = s_m[r];
    ml[1] = s_l[r];
  }

  // Publish this split, and find out whether it was the KV head's last one.
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    s_last = atomicAdd(done_count + kvh, 1) == active - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();

  // Merge: a thread per (query, head, 4 dimensions), folding the splits in order with a
  // running maximum; eight splits' loads in flight at a time. L2 reads (__ldcg): the
  // partials were written by other SMs.
  constexpr int kCols = HD / 4;
  for (int item = tid; item < rows * kCols; item += kThreads) {
    const int r = item / kCols, c = item % kCols;
    const int qi = r / G, head = kvh * G + r % G;
    const float2* ml = reinterpret_cast<const float2*>(part_ml) + (size_t(qi) * n_heads + head) * splits;
    const float4* po =
        reinterpret_cast<const float4*>(part_o + (size_t(qi) * n_heads + head) * splits * HD) + c;
    float m = -INFINITY, l = 0.f;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s0 = 0; s0 < active; s0 += 8) {
      float2 mls[8];
      float4 os[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        if (s0 + u < active) {
          mls[u] = __ldcg(ml + s0 + u);
          os[u] = __ldcg(po + size_t(s0 + u) * kCols);
        } else {
          mls[u] = make_float2(-INFINITY, 0.f);
          os[u] = make_float4(0.f, 0.f, 0.f, 0.f);
        }
      }
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        if (mls[u].x == -INFINITY) continue;  // nothing of this row in that split
        const float mn = fmaxf(m, mls[u].x);
        const float a = exp2f(m - mn), b = exp2f(mls[u].x - mn);
        l = l * a + mls[u].y * b;
        acc.x = acc.x * a + os[u].x * b;
        acc.y = acc.y * a + os[u].y * b;
        acc.z = acc.z * a + os[u].z * b;
        acc.w = acc.w * a + os[u].w * b;
        m = mn;
      }
    }
    const float inv = 1.f / l;
    uint2 packed;
    packed.x = pack_f16x2(acc.x * inv, acc.y * inv);
    packed.y = pack_f16x2(acc.z * inv, acc.w * inv);
    *reinterpret_cast<uint2*>(out + (size_t(qi) * n_heads + head) * HD + 4 * c) = packed;
  }
  if (tid == 0) done_count[kvh] = 0;  // ready for the next launch
}

template <int G, int HD>
void run(const Launch& l, const f16* q, const f16* kc, const f16* vc, const int* d_pos, int nq,
         const AttnShape& a, const DecodeScratch& s, f16* out) {
  const float scale_log2 = 1.4426950408889634f / sqrtf(float(HD));
  const int longest = (a.window > 0 ? a.window : a.capacity) + nq - 1;
  const int chunk_cap = chunk_for(longest, s.max_splits);
  const size_t smem = smem_bytes<G, HD>(nq, chunk_cap);
  auto kernel = attention_decode_kernel<G, HD>;
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
  launch(l, kernel, dim3(s.max_splits, a.n_kv_heads), dim3(kThreads), smem, q, kc, vc, d_pos, nq,
         a.n_heads, a.capacity, a.window, chunk_cap, scale_log2, s.part_o, s.part_ml,
         s.done_count, out);
}

template <int HD>
void run_hd(const Launch& l, const f16* q, const f16* kc, const f16* vc, const int* d_pos,
            int nq, const AttnShape& a, const DecodeScratch& s, f16* out) {
  switch (a.group()) {
    case 1: return run<1, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 2: return run<2, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 4: return run<4, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    case 8: return run<8, HD>(l, q, kc, vc, d_pos, nq, a, s, out);
    default: throw Error("attention_decode: query heads per KV head must be 1, 2, 4 or 8");
  }
}

}  // namespace

int decode_splits_for(const AttnShape& a, int sms) {
  const int longest = (a.window > 0 ? a.window : a.capacity) + kGemvMaxTokens - 1;
  const int for_length = ceil_div(longest, kDecodeMaxChunk);
  const int to_fill = sms / a.n_kv_heads > 1 ? sms / a.n_kv_heads : 1;  // a block per SM
  return for_length > to_fill ? for_length : to_fill;
}

void attention_decode(const Launch& l, const f16* q, const f16* k_cache, const f16* v_cache,
                      const int* d_pos, int nq, const AttnShape& a, const DecodeScratch& s,
                      f16* out) {
  if (nq < 1 || nq > s.max_queries || nq > kGemvMaxTokens)
    throw Error("attention_decode: too many queries");
  if (a.n_heads % a.n_kv_heads != 0) throw Error("attention_decode: bad head counts");
  const int longest = (a.window > 0 ? a.window : a.capacity) + nq - 1;
  if (chunk_for(longest, s.max_splits) > kDecodeMaxChunk)
    throw Error("attention_decode: too few splits for the window");
  if (!s.done_count) throw Error("attention_decode: no split counters");
  switch (a.head_dim) {
    case 128: return run_hd<128>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    case 64: return run_hd<64>(l, q, k_cache, v_cache, d_pos, nq, a, s, out);
    default: throw Error("attention_decode: head_dim must be 64 or 128");
  }
}

}  // namespace tramontane::cuda
