// A sparse mixture of experts (Mixtral) on the GPU: the router, the experts' products on
// the decode path (only the chosen experts' rows are read), and the gather / combine
// steps around the prefill path's per-expert cuBLASLt products (forward_experts.cu).
//
// Slots: token t's j-th choice is slot s = t·k + j. The router writes each slot's expert
// and weight; the expert products write one output row per slot; combine adds a token's
// k rows, weighted, to its residual row.
//
// Determinism: no atomics; each output element is written by one thread in a fixed
// order (the router's sums by warp in a fixed shuffle order, combine in expert order), so
// a token gets the same bits whatever the grid, and in the decode graph on every replay.
#include "expert_route.h"
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

// One block per token: RMSNorm of its residual row (fp32, kept in shared memory for the
// router; f16 copies for the expert products), the router logits in fp32, then one
// thread picks the experts as cpu::route does (expert_route.h).
__global__ void route_kernel(const float* __restrict__ x, const float* __restrict__ norm_w,
                             float eps, const float* __restrict__ router, int dim, int n_experts,
                             int k, f16* __restrict__ xn_out, int copies, int* __restrict__ chosen,
                             float* __restrict__ weight) {
  extern __shared__ float xs[];  // [dim] the normalized row, fp32
  __shared__ float scratch[32];
  __shared__ float logits[route::kMaxExperts];
  pdl_enter();
  const int tok = blockIdx.x;
  const float* xr = x + size_t(tok) * dim;
  float ss = 0.f;
  for (int i = threadIdx.x * 4; i < dim; i += blockDim.x * 4) {
    const float4 v = *reinterpret_cast<const float4*>(xr + i);
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / float(dim) + eps);
  for (int i = threadIdx.x * 4; i < dim; i += blockDim.x * 4) {
    const float4 v = *reinterpret_cast<const float4*>(xr + i);
    const float4 w = *reinterpret_cast<const float4*>(norm_w + i);
    const float4 o = make_float4(v.x * inv * w.x, v.y * inv * w.y, v.z * inv * w.z, v.w * inv * w.w);
    *reinterpret_cast<float4*>(xs + i) = o;
    const uint2 packed = make_uint2(pack_f16x2(o.x, o.y), pack_f16x2(o.z, o.w));
    for (int c = 0; c < copies; ++c) {
      *reinterpret_cast<uint2*>(xn_out + (size_t(tok) * copies + c) * dim + i) = packed;
    }
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int e = warp; e < n_experts; e += warps) {
    const float* row = router + size_t(e) * dim;
    float acc = 0.f;
    for (int i = lane * 4; i < dim; i += 128) {
      const float4 r = *reinterpret_cast<const float4*>(row + i);
      const float4 v = *reinterpret_cast<const float4*>(xs + i);
      acc += r.x * v.x + r.y * v.y + r.z * v.z + r.w * v.w;
    }
    acc = warp_sum(acc);
    if (lane == 0) logits[e] = acc;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    route::Entry queue[route::kMaxExperts];
    route::choose(logits, n_experts, k, chosen + size_t(tok) * k, weight + size_t(tok) * k, queue);
  }
}

// The decode path's expert products: the kernel's tiles are (slot, tile of the chosen
// expert's rows), slot-major; the m ≤ 8 slots ride in the product's token dimension
// (input row s is slot s's normalized input) and each tile keeps only its own slot's
// column. row() reads the slot's expert from the routing, so the epilogues declare
// kRowsAfterWait: the gemv kernel waits on the previous kernel before its first weight
// loads (it issues them before the wait otherwise), and the launch may use PDL.
struct ExpertSwigluEpilogue {
  static constexpr bool kRowsAfterWait = true;
  f16* h;              // [m][hidden]
  const int* chosen;   // [m]
  int hidden;
  int tiles;           // per expert: fragment row g is gate row i, row g + 8 is up row i

  __device__ int row(int tile, int g, int half) const {
    const int s = tile / tiles;
    const int i = min((tile - s * tiles) * 8 + g, hidden - 1);
    return (2 * chosen[s] + half) * hidden + i;
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
    const int s = tile / tiles;
    const int i = (tile - s * tiles) * 8 + g;
    if (i >= hidden) return;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      if (tok0 + 2 * t + j == s) h[size_t(s) * hidden + i] = to_f16_sat(silu(acc[j]) * acc[2 + j]);
    }
  }
};

struct ExpertRowsEpilogue {
  static constexpr bool kRowsAfterWait = true;
  float* y;            // [m][rows]
  const int* chosen;   // [m]
  int rows;            // of one expert
  int tiles;           // per expert, 16 rows each

  __device__ int row(int tile, int g, int half) const {
    const int s = tile / tiles;
    const int r = min((tile - s * tiles) * 16 + half * 8 + g, rows - 1);
    return chosen[s] * rows + r;
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
    const int s = tile / tiles;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = (tile - s * tiles) * 16 + half * 8 + g;
      if (r >= rows) continue;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        if (tok0 + 2 * t + j == s) y[size_t(s) * rows + r] = acc[2 * half + j];
      }
    }
  }
};

// xg[slot_row[s]] = xn[s / k]: the chunk's normalized rows grouped by expert. A block per
// slot, 8 values a thread per step.
__global__ void gather_kernel(const f16* __restrict__ xn, const int* __restrict__ slot_row, int k,
                              int dim, f16* __restrict__ xg) {
  pdl_enter();
  const int s = blockIdx.x;
  const int r = slot_row[s], tok = s / k;
  for (int i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
    *reinterpret_cast<uint4*>(xg + size_t(r) * dim + i) =
        *reinterpret_cast<const uint4*>(xn + size_t(tok) * dim + i);
  }
}

// x[t] += Σ weight · y over token t's slots, in expert-index order (as the CPU adds them
// up). A block per token, 4 values a thread per step.
__global__ void combine_kernel(float* __restrict__ x, const float* __restrict__ y,
                               const int* __restrict__ chosen, const float* __restrict__ weight,
                               const int* __restrict__ slot_row, int k, int dim) {
  pdl_enter();
  const int tok = blockIdx.x;
  int order[route::kMaxChosen];
  for (int j = 0; j < k; ++j) {  // the token's slots by expert index (insertion sort)
    const int s = tok * k + j;
    int p = j;
    while (p > 0 && chosen[order[p - 1]] > chosen[s]) {
      order[p] = order[p - 1];
      --p;
    }
    order[p] = s;
  }
  for (int i = threadIdx.x * 4; i < dim; i += blockDim.x * 4) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int j = 0; j < k; ++j) {
      const int s = order[j];
      const float w = weight[s];
      const int r = slot_row ? slot_row[s] : s;
      const float4 v = *reinterpret_cast<const float4*>(y + size_t(r) * dim + i);
      acc.x += v.x * w;
      acc.y += v.y * w;
      acc.z += v.z * w;
      acc.w += v.w * w;
    }
    float4* xr = reinterpret_cast<float4*>(x + size_t(tok) * dim + i);
    float4 o = *xr;
    o.x += acc.x;
    o.y += acc.y;
    o.z += acc.z;
    o.w += acc.w;
    *xr = o;
  }
}

}  // namespace

void route_experts(const Launch& l, const float* x, const float* norm_w, float eps,
                   const float* router, int n, int dim, int n_experts, int k, f16* xn_out,
                   int copies, const ExpertRouting& r) {
  if (n_experts < 1 || n_experts > route::kMaxExperts || k < 1 || k > n_experts ||
      k > route::kMaxChosen) {
    throw Error("route_experts: the GPU router takes 1 ≤ k ≤ " +
                std::to_string(route::kMaxChosen) + " of at most " +
                std::to_string(route::kMaxExperts) + " experts");
  }
  if (dim % 4 != 0) throw Error("route_experts: dim must be a multiple of 4");
  if (n <= 0) return;
  const size_t smem = size_t(dim) * sizeof(float);
  allow_dynamic_smem(reinterpret_cast<const void*>(route_kernel), smem);
  launch(l, route_kernel, dim3(n), dim3(256), smem, x, norm_w, eps, router, dim, n_experts, k,
         xn_out, copies, r.chosen, r.weight);
}

void gemv_expert_swiglu(const Launch& l, const GemvConfig& c, const DeviceMatrix& wgu,
                        const f16* xe, const int* chosen, int m, int dim, int hidden, f16* h) {
  const int tiles = gemv_swiglu_tiles(hidden);
  if (wgu.rows % (2 * hidden) != 0) throw Error("gemv_expert_swiglu: rows are not 2 · hidden per expert");
  ExpertSwigluEpilogue epi{h, chosen, hidden, tiles};
  gemv::launch_gemv(l, c, wgu, dim, m * tiles, m, gemv::VecInput{xe}, epi);
}

void gemv_expert_down(const Launch& l, const GemvConfig& c, const DeviceMatrix& wd, const f16* h,
                      const int* chosen, int m, int hidden, int dim, float* y) {
  const int tiles = gemv_rows_tiles(dim);
  if (wd.rows % dim != 0) throw Error("gemv_expert_down: rows are not dim per expert");
  ExpertRowsEpilogue epi{y, chosen, dim, tiles};
  gemv::launch_gemv(l, c, wd, hidden, m * tiles, m, gemv::VecInput{h}, epi);
}

void gather_expert_rows(const Launch& l, const f16* xn, const int* slot_row, int slots, int k,
                        int dim, f16* xg) {
  if (dim % 8 != 0) throw Error("gather_expert_rows: dim must be a multiple of 8");
  if (slots <= 0) return;
  launch(l, gather_kernel, dim3(slots), dim3(128), 0, xn, slot_row, k, dim, xg);
}

void combine_experts(const Launch& l, float* x, const float* y, const ExpertRouting& r,
                     const int* slot_row, int n, int k, int dim) {
  if (dim % 4 != 0) throw Error("combine_experts: dim must be a multiple of 4");
  if (k < 1 || k > route::kMaxChosen) throw Error("combine_experts: k out of range");
  if (n <= 0) return;
  launch(l, combine_kernel, dim3(n), dim3(256), 0, x, y, r.chosen, r.weight, slot_row, k, dim);
}

}  // namespace tramontane::cuda
