// Prefill attention on tensor cores: causal sliding-window attention for a chunk of n
// queries, GQA, keys from the rolling cache (older positions) and from the chunk itself.
//
// Flash-attention style. A block takes 64 queries of one head (4 warps × 16 rows) and
// walks the key positions its queries can see, 64 keys per tile, double-buffered in
// shared memory with cp.async. Per tile and warp: S = Q Kᵀ (m16n8k16 f16 products, K
// fragments by ldmatrix), the causal/window mask only on tiles that need it, an online
// softmax in fp32 (log2 domain), then O += P V (P repacked from the S accumulators as
// f16, V fragments by ldmatrix.trans). Rows of shared memory are 16-byte-chunk swizzled
// (chunk c of row r at c ^ (r mod 8)) so ldmatrix reads are free of bank conflicts.
//
// Blocks run heaviest first (the last query tile sees the most keys), with the heads of
// one KV group next to each other so their shared K/V tiles are found in L2.
//
// A short chunk (one query tile, ≤ 64 queries) gives only one block per head, too few to
// stream a long window from every SM: its keys are then split over `splits` blocks
// (grid z), each writing an unnormalized partial output with its row maxima and sums,
// and attention_merge combines them (flash-decoding). A chunk of ≤ 16 (≤ 32) queries
// would leave 3 (2) of a block's warps without rows: there a block takes 4 (2) heads of
// one KV group instead, a warp (pair of warps) per head over the same queries, so the
// group's keys and values are loaded once for all of them.
#include <algorithm>
#include <cfloat>

#include "ops.h"

namespace tramontane::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kBlockK = 64;           // keys per tile

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <int HD>
__global__ void __launch_bounds__(kWarps * 32)
    attention_prefill_kernel(const f16* __restrict__ q, const f16* __restrict__ k_new,
                             const f16* __restrict__ v_new, const f16* __restrict__ k_cache,
                             const f16* __restrict__ v_cache, int n, int pos0, int n_heads,
                             int n_kv_heads, int capacity, int window, float scale_log2,
                             int heads_per_block, f16* __restrict__ out,
                             float* __restrict__ part_o, float* __restrict__ part_ml) {
  constexpr int CH = HD / 8;          // 16-byte chunks per row
  constexpr int KS = HD / 16;         // k-steps of the S product
  constexpr int TILE = kBlockK * HD;  // elements per K or V tile
  extern __shared__ uint4 smem_dyn[];
  f16* sk = reinterpret_cast<f16*>(smem_dyn);  // [2][kBlockK][HD]
  f16* sv = sk + 2 * TILE;                      // [2][kBlockK][HD]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  // The block's heads (of one KV group) and queries: warp w takes head
  // w / warps_per_head and 16 query rows, (w mod warps_per_head) · 16 into the block's.
  const int warps_per_head = kWarps / heads_per_block;
  const int head = blockIdx.x * heads_per_block + warp / warps_per_head;
  const int kvh = head / (n_heads / n_kv_heads);
  const int qtile = gridDim.y - 1 - blockIdx.y;  // heaviest first
  const int q0 = qtile * 16 * warps_per_head;    // first query of the block (chunk index)
  const int wrow = (warp % warps_per_head) * 16; // the warp's first row in the block

  pdl_enter();

  const int q_last = min(q0 + 16 * warps_per_head, n) - 1;
  const int kmin = window > 0 ? max(0, pos0 + q0 - window + 1) : 0;
  const int kmax = pos0 + q_last;
  const int n_tiles = (kmax - kmin + kBlockK) / kBlockK;
  // This block's tiles: all of them, or its split's share.
  const int split = blockIdx.z, splits = gridDim.z;
  const int j_begin = split * n_tiles / splits, j_end = (split + 1) * n_tiles / splits;

  auto load_tile = [&](int j, int buf) {
    const int ts = kmin + j * kBlockK;
    const uint32_t kdst = smem_addr(sk + buf * TILE);
    const uint32_t vdst = smem_addr(sv + buf * TILE);
#pragma unroll
    for (int i = tid; i < kBlockK * CH; i += kWarps * 32) {
      const int r = i / CH, c = i % CH;
      const int kp = ts + r;
      const bool valid = kp <= kmax;
      size_t off;
      const f16 *kb, *vb;
      if (kp >= pos0) {
        off = (size_t(kvh) * n + (valid ? kp - pos0 : 0)) * HD;
        kb = k_new;
        vb = v_new;
      } else {
        off = (size_t(kvh) * capacity + kp % capacity) * HD;
        kb = k_cache;
        vb = v_cache;
      }
      const uint32_t so = uint32_t((r * HD + ((c ^ (r & 7)) * 8)) * sizeof(f16));
      cp_async16(kdst + so, kb + off + c * 8, valid);
      cp_async16(vdst + so, vb + off + c * 8, valid);
    }
  };

  if (j_begin < j_end) load_tile(j_begin, 0);
  cp_async_commit();

  // This warp's 16 query rows as A fragments (zeros past the chunk end).
  const int row0 = q0 + wrow + g, row1 = row0 + 8;
  uint32_t qa[KS][4];
  {
    const uint32_t* q0p = reinterpret_cast<const uint32_t*>(q + (size_t(row0) * n_heads + head) * HD);
    const uint32_t* q1p = reinterpret_cast<const uint32_t*>(q + (size_t(row1) * n_heads + head) * HD);
    const bool ok0 = row0 < n, ok1 = row1 < n;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      qa[ks][0] = ok0 ? q0p[ks * 8 + t] : 0u;
      qa[ks][1] = ok1 ? q1p[ks * 8 + t] : 0u;
      qa[ks][2] = ok0 ? q0p[ks * 8 + 4 + t] : 0u;
      qa[ks][3] = ok1 ? q1p[ks * 8 + 4 + t] : 0u;
    }
  }
  const int qp0 = pos0 + row0, qp1 = pos0 + row1;  // query positions of rows g, g+8
  const int wq_lo = pos0 + q0 + wrow;
  const int wq_hi = min(wq_lo + 15, kmax);

  float o[HD / 8][4];
#pragma unroll
  for (int i = 0; i < HD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;

  for (int j = j_begin; j < j_end; ++j) {
    const int buf = (j - j_begin) & 1;
    if (j + 1 < j_end) {
      load_tile(j + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();

    const int ts = kmin + j * kBlockK, te = ts + kBlockK - 1;
    const bool skip = ts > wq_hi || (window > 0 && te < wq_lo - window + 1);
    if (!skip) {
      const bool full = te <= wq_lo && (window == 0 || ts >= wq_hi - window + 1);
      const uint32_t kbase = smem_addr(sk + buf * TILE);
      const uint32_t vbase = smem_addr(sv + buf * TILE);

      // S = Q Kᵀ over 64 keys: 8 n-tiles of 8 keys.
      float s[8][4];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
        const int key = nt * 8 + (lane & 7);
#pragma unroll
        for (int ks = 0; ks < KS; ks += 2) {
          const int c = 2 * ks + (lane >> 3);
          uint32_t b[4];
          ldmatrix_x4(b, kbase + uint32_t((key * HD + ((c ^ (key & 7)) * 8)) * sizeof(f16)));
          mma_f16_16816(s[nt], qa[ks][0], qa[ks][1], qa[ks][2], qa[ks][3], b[0], b[1]);
          mma_f16_16816(s[nt], qa[ks + 1][0], qa[ks + 1][1], qa[ks + 1][2], qa[ks + 1][3], b[2],
                         b[3]);
        }
      }

      // Scale into the log2 domain, mask, row maxima.
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float v = s[nt][e] * scale_log2;
          if (!full) {
            const int kp = ts + nt * 8 + 2 * t + (e & 1);
            const int qp = e < 2 ? qp0 : qp1;
            const bool visible = kp <= qp && (window == 0 || kp > qp - window);
            if (!visible) v = -INFINITY;
          }
          s[nt][e] = v;
        }
        mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
        mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
      }
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
      const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
      const float use0 = mn0 == -INFINITY ? 0.f : mn0;  // nothing visible yet: no NaN
      const float use1 = mn1 == -INFINITY ? 0.f : mn1;
      const float alpha0 = exp2f(m0 - use0), alpha1 = exp2f(m1 - use1);
      m0 = mn0;
      m1 = mn1;

      // P = exp2(S − m), packed as f16 A fragments of the P V product.
      uint32_t pa[4][4];
      float rs0 = 0.f, rs1 = 0.f;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const float p0 = exp2f(s[nt][0] - use0), p1 = exp2f(s[nt][1] - use0);
        const float p2 = exp2f(s[nt][2] - use1), p3 = exp2f(s[nt][3] - use1);
        rs0 += p0 + p1;
        rs1 += p2 + p3;
        const int kk = nt >> 1, hi = nt & 1;
        pa[kk][hi * 2 + 0] = pack_f16x2(p0, p1);
        pa[kk][hi * 2 + 1] = pack_f16x2(p2, p3);
      }
      l0 = l0 * alpha0 + rs0;
      l1 = l1 * alpha1 + rs1;
#pragma unroll
      for (int dt = 0; dt < HD / 8; ++dt) {
        o[dt][0] *= alpha0;
        o[dt][1] *= alpha0;
        o[dt][2] *= alpha1;
        o[dt][3] *= alpha1;
      }

      // O += P V: 4 k-steps of 16 keys, HD/8 n-tiles of 8 dimensions.
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const int key = kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt += 2) {
          const int c = dt + (lane >> 4);
          uint32_t b[4];
          ldmatrix_x4_trans(b, vbase + uint32_t((key * HD + ((c ^ (key & 7)) * 8)) * sizeof(f16)));
          mma_f16_16816(o[dt], pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], b[0], b[1]);
          mma_f16_16816(o[dt + 1], pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the buffer is refilled next iteration
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  if (splits > 1) {  // partial: unnormalized output, row maximum (log2 domain) and sum
    auto put = [&](int row, int half, float m, float l) {
      if (row >= n) return;
      const size_t r = (size_t(split) * n + row) * n_heads + head;
      float2* dst = reinterpret_cast<float2*>(part_o + r * HD);
#pragma unroll
      for (int dt = 0; dt < HD / 8; ++dt)
        dst[dt * 4 + t] = make_float2(o[dt][2 * half], o[dt][2 * half + 1]);
      if (t == 0) reinterpret_cast<float2*>(part_ml)[r] = make_float2(m, l);
    };
    put(row0, 0, m0, l0);
    put(row1, 1, m1, l1);
    return;
  }
  const float inv0 = 1.f / l0, inv1 = 1.f / l1;
  if (row0 < n) {
    uint32_t* dst = reinterpret_cast<uint32_t*>(out + (size_t(row0) * n_heads + head) * HD);
#pragma unroll
    for (int dt = 0; dt < HD / 8; ++dt)
      dst[dt * 4 + t] = pack_f16x2(o[dt][0] * inv0, o[dt][1] * inv0);
  }
  if (row1 < n) {
    uint32_t* dst = reinterpret_cast<uint32_t*>(out + (size_t(row1) * n_heads + head) * HD);
#pragma unroll
    for (int dt = 0; dt < HD / 8; ++dt)
      dst[dt * 4 + t] = pack_f16x2(o[dt][2] * inv1, o[dt][3] * inv1);
  }
}

// out[row][head] = Σ_z exp2(m_z − M) o_z / Σ_z exp2(m_z − M) l_z, M = max_z m_z: one
// block per (row, head), a thread per 4 dimensions. A split that saw no key of the row
// has m = −∞ and l = 0 and adds nothing; the row's own key is in some split, so M is
// finite.
__global__ void attention_merge_kernel(const float* __restrict__ part_o,
                                       const float* __restrict__ part_ml, int splits, int n,
                                       int n_heads, int hd, f16* __restrict__ out) {
  pdl_enter();
  const int rh = blockIdx.x;  // row · n_heads + head
  const float2* ml = reinterpret_cast<const float2*>(part_ml);
  float M = -INFINITY;
  for (int z = 0; z < splits; ++z) M = fmaxf(M, ml[size_t(z) * n * n_heads + rh].x);
  float L = 0.f;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  const int d = threadIdx.x * 4;
  for (int z = 0; z < splits; ++z) {
    const size_t r = size_t(z) * n * n_heads + rh;
    const float w = exp2f(ml[r].x - M);
    L += w * ml[r].y;
    const float4 v = *reinterpret_cast<const float4*>(part_o + r * hd + d);
    acc.x += w * v.x;
    acc.y += w * v.y;
    acc.z += w * v.z;
    acc.w += w * v.w;
  }
  const float inv = 1.f / L;
  uint2 o;
  o.x = pack_f16x2(acc.x * inv, acc.y * inv);
  o.y = pack_f16x2(acc.z * inv, acc.w * inv);
  *reinterpret_cast<uint2*>(out + size_t(rh) * hd + d) = o;
}

// Key splits for a chunk: one per block the SMs can hold beyond the heads' one each, for
// a single query tile over enough keys (≥ 4 tiles of 64 per split), within the scratch.
int key_splits(int n, int pos0, const AttnShape& a, const PrefillSplits& s) {
  if (!s.part_o || n > PrefillSplits::kMaxQueries) return 1;
  const int kmin = a.window > 0 ? std::max(0, pos0 - a.window + 1) : 0;
  const int tiles = (pos0 + n - 1 - kmin + kBlockK) / kBlockK;
  return std::max(1, std::min(s.max_splits, tiles / 4));
}

template <int HD>
void run(const Launch& l, const f16* q, const f16* k_new, const f16* v_new, const f16* kc,
         const f16* vc, int n, int pos0, const AttnShape& a, f16* out, const PrefillSplits& ps) {
  const size_t smem = 4 * size_t(kBlockK) * HD * sizeof(f16);
  auto kernel = attention_prefill_kernel<HD>;
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
  const float scale_log2 = 1.4426950408889634f / sqrtf(float(HD));
  const int splits = key_splits(n, pos0, a, ps);
  const int group = a.n_heads / a.n_kv_heads;
  const int hpb = n <= 16 && group % 4 == 0 ? 4 : n <= 32 && group % 2 == 0 ? 2 : 1;
  const int rows_per_block = 16 * (kWarps / hpb);
  launch(l, kernel, dim3(a.n_heads / hpb, ceil_div(n, rows_per_block), splits), dim3(kWarps * 32),
         smem, q, k_new, v_new, kc, vc, n, pos0, a.n_heads, a.n_kv_heads, a.capacity, a.window,
         scale_log2, hpb, out, ps.part_o, ps.part_ml);
  if (splits > 1) {
    launch(l, attention_merge_kernel, dim3(n * a.n_heads), dim3(HD / 4), 0,
           static_cast<const float*>(ps.part_o), static_cast<const float*>(ps.part_ml), splits, n,
           a.n_heads, HD, out);
  }
}

}  // namespace

void attention_prefill(const Launch& l, const f16* q, const f16* k_new, const f16* v_new,
                       const f16* k_cache, const f16* v_cache, int n, int pos0,
                       const AttnShape& a, f16* out, const PrefillSplits& splits) {
  if (n <= 0) return;
  if (a.n_heads % a.n_kv_heads != 0) throw Error("attention_prefill: bad head counts");
  switch (a.head_dim) {
    case 128: return run<128>(l, q, k_new, v_new, k_cache, v_cache, n, pos0, a, out, splits);
    case 64: return run<64>(l, q, k_new, v_new, k_cache, v_cache, n, pos0, a, out, splits);
    default: throw Error("attention_prefill: head_dim must be 64 or 128");
  }
}

}  // namespace tramontane::cuda
