// The matrix × few-vectors kernel behind gemv_*.cu (decode, and appends of up to 8
// tokens), parameterised by where its input comes from and what its epilogue does.
//
// Work: y[t][r] = Σ_k W[r][k] · x[t][k] for t < n ≤ 8 · kTokenTiles. Bound by reading W
// once: the tokens ride along in the N dimension of m16n8k16 tensor-core products (one
// per 8 tokens), so 8 tokens cost the same instructions as one, and a chunk of up to 64
// tokens reads each weight once too (its inputs, 8 tokens per product, come from L2).
//
// Mapping. A tile is 16 output rows ("row g" and "row g+8" of the mma fragment, which
// the epilogue maps to real rows: a RoPE pair, a gate/up pair, or 16 plain rows). A
// block of WARPS warps takes one tile at a time; warp w covers a contiguous slice of K.
// Per 32-element step, lane (g, t) loads 16 bytes of row g and 16 bytes of row g+8 at
// k + 8t, and 16 bytes of token g's input at the same k. The 8 loaded elements are
// assigned to the mma's logical k indices {2t, 2t+1, 2t+8, 2t+9} of two successive
// products; A and B use the same assignment, so the dot products are unchanged.
// U steps of loads are issued before the first product uses them.
//
// Tile groups (KW < WARPS, quantized weights only): the block's warps form WARPS / KW
// groups of KW warps; each group takes its own tile, its KW warps split K. A block then
// covers WARPS / KW tiles per pass: the per-block work (normalizing the input, the
// cross-warp reduction and its barriers) is paid once per WARPS / KW tiles instead of
// once per tile, and each warp streams a longer slice of K (KW = 1: no reduction at all).
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "common.cuh"
#include "ops.h"
#include "device_matrix.h"
#include "weight_formats.cuh"

namespace tramontane::cuda::gemv {


// Input: RMSNorm of fp32 rows, normalized once per block into shared memory as f16
// (row stride K + 8 elements: consecutive tokens land on different banks).
struct NormInput {
  const float* x;  // [n][K]
  const float* w;  // [K]
  float eps;
  static constexpr bool kUsesSmem = true;
  __device__ static int stride(int K) { return K + 8; }
};

// Input: f16 rows in global memory, read through L1 (every warp of a block reads them).
struct VecInput {
  const f16* x;  // [n][K]
  static constexpr bool kUsesSmem = false;
};

__device__ __forceinline__ void prepare_input(const VecInput&, f16*, int, int) {}

__device__ __forceinline__ void prepare_input(const NormInput& in, f16* xs, int K, int n) {
  __shared__ float scratch[32];
  const int stride = NormInput::stride(K);
  for (int t = 0; t < n; ++t) {
    const float* xt = in.x + size_t(t) * K;
    float ss = 0.f;
    for (int k = threadIdx.x * 4; k < K; k += blockDim.x * 4) {
      const float4 v = *reinterpret_cast<const float4*>(xt + k);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    const float inv = rsqrtf(block_sum(ss, scratch) / float(K) + in.eps);
    for (int k = threadIdx.x * 8; k < K; k += blockDim.x * 8) {
      const float4 a = *reinterpret_cast<const float4*>(xt + k);
      const float4 b = *reinterpret_cast<const float4*>(xt + k + 4);
      const float4 wa = *reinterpret_cast<const float4*>(in.w + k);
      const float4 wb = *reinterpret_cast<const float4*>(in.w + k + 4);
      uint4 o;
      o.x = pack_f16x2(a.x * inv * wa.x, a.y * inv * wa.y);
      o.y = pack_f16x2(a.z * inv * wa.z, a.w * inv * wa.w);
      o.z = pack_f16x2(b.x * inv * wb.x, b.y * inv * wb.y);
      o.w = pack_f16x2(b.z * inv * wb.z, b.w * inv * wb.w);
      *reinterpret_cast<uint4*>(xs + size_t(t) * stride + k) = o;
    }
  }
  __syncthreads();
}

__device__ __forceinline__ uint4 load_input(const NormInput&, const f16* xs, int K, int t,
                                            int k) {
  return *reinterpret_cast<const uint4*>(xs + size_t(t) * NormInput::stride(K) + k);
}
__device__ __forceinline__ uint4 load_input(const VecInput& in, const f16*, int K, int t,
                                            int k) {
  return __ldg(reinterpret_cast<const uint4*>(in.x + size_t(t) * K + k));
}

// Epi must provide:
//   __device__ int row(int tile, int g, int half) const;  // weight row of fragment row
//                                                           // g + 8·half (pure: no loads)
//   __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const;
//     acc[2·half + j] = y[token tok0 + 2t + j][row(tile, g, half)]; tokens ≥ n are padding
//   optionally static constexpr bool kRowsAfterWait = true: row() reads what an earlier
//     kernel wrote (the experts' routing), so the kernel waits on that kernel before its
//     first weight loads instead of after; the launch may still use PDL.
//
// Pipelining: each warp walks a flat sequence of (tile, batch of kSteps steps) and keeps
// two batches of weight loads in registers, across tile boundaries too; the first two
// are issued before waiting on the previous kernel (weights never depend on it).
// kSteps: 32-element steps per batch of loads (2 × kSteps runs of 8 weights per thread,
// 16-byte loads for f16 rows). W: how the weights are stored (weight_formats.cuh).
template <class W, int kSteps>
struct Batch {
  typename W::Raw a0[kSteps], a1[kSteps];
};

template <class Epi, class = void>
struct RowsAfterWait : std::false_type {};
template <class Epi>
struct RowsAfterWait<Epi, std::void_t<decltype(Epi::kRowsAfterWait)>>
    : std::bool_constant<Epi::kRowsAfterWait> {};

// kTokenTiles: products of 8 tokens per weight fragment (1 for decode and appends of up
// to 8 tokens, up to 8 for chunks of up to 64). KW: warps per tile (see the top). The
// body of the kernels below: block `block` of `grid` blocks on this product; xs: the
// dynamic shared memory (the normalized input).
template <int WARPS, int KW, int kSteps, int kTokenTiles, class W, class In, class Epi>
__device__ __forceinline__ void gemv_body(const W& w, int K, int n_tiles, int n, const In& in,
                                          const Epi& epi, f16* xs, int block, int grid) {
  static_assert(WARPS % KW == 0, "tile groups of KW warps");
  constexpr int kGroups = WARPS / KW;  // tiles a block covers per pass
  __shared__ float red[KW > 1 ? WARPS : 1][4 * kTokenTiles][32];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int group = warp / KW, kw = warp % KW;
  const int g = lane >> 2, t = lane & 3;
  // A group's warps split K in whole load units of W::kUnit steps (1 for f16, 4 for the
  // planes, whose rows are whole units).
  constexpr int kUnit = W::kUnit;
  static_assert(kSteps % kUnit == 0, "a batch is whole load units");
  const int n_steps = (K + 31) / 32;
  const int n_units = (n_steps + kUnit - 1) / kUnit;
  const int s_begin = kw * n_units / KW * kUnit;
  const int s_end = min((kw + 1) * n_units / KW * kUnit, n_steps);
  // Batches per tile, the same for every warp of the block (a warp past its slice loads
  // zeros), so all warps reach each tile's reduction together.
  const int per_warp_max = (n_units + KW - 1) / KW * kUnit;
  const int batches = per_warp_max > 0 ? (per_warp_max + kSteps - 1) / kSteps : 1;
  // The block walks "passes" p = block, block + grid, ..., each of
  // kGroups tiles; group i takes tile p · kGroups + i (none past the last tile: its warps
  // multiply zeros and store nothing, but keep the block's barriers).
  const int n_passes = (n_tiles + kGroups - 1) / kGroups;
  auto tile_of = [&](int pass) { return pass * kGroups + group; };

  auto load = [&](Batch<W, kSteps>& b, int pass, int batch) {
    const int tile = tile_of(pass);
    const bool live = tile < n_tiles;
    typename W::Cursor row0{}, row1{};
    if (live) {
      row0 = w.row(epi.row(tile, g, 0), t);
      row1 = w.row(epi.row(tile, g, 1), t);
    }
#pragma unroll
    for (int u = 0; u < kSteps; u += kUnit) {
      const int s = s_begin + batch * kSteps + u;
      const int k = s * 32;
      if (live && s < s_end && k + 8 * t < K) {
        w.load_unit(row0, s, &b.a0[u]);
        w.load_unit(row1, s, &b.a1[u]);
      } else {
#pragma unroll
        for (int v = 0; v < kUnit; ++v) {
          b.a0[u + v] = typename W::Raw{};
          b.a1[u + v] = typename W::Raw{};
        }
      }
    }
  };

  // Two register buffers alternate over the flat sequence of (pass, batch) positions:
  // A holds the even ones, B the odd ones. While one is multiplied the other is in
  // flight, and a buffer is refilled (two positions ahead) as soon as it is consumed,
  // so no register copy ever waits on a pending load.
  auto advance = [&](int& ps, int& bt) {
    if (++bt == batches) {
      bt = 0;
      ps += grid;
    }
  };
  Batch<W, kSteps> A, B;
  int pa = block, ba = 0;
  int pb = pa, bb = 0;
  advance(pb, bb);
  // Both buffers in flight before waiting on the previous kernel and normalizing the
  // input: they hide that prologue. Unless the rows themselves depend on that kernel.
  constexpr bool kWaitFirst = RowsAfterWait<Epi>::value;
  if constexpr (kWaitFirst) pdl_enter();
  if (pa < n_passes) load(A, pa, ba);
  if (pb < n_passes) load(B, pb, bb);
  if constexpr (!kWaitFirst) pdl_enter();
  prepare_input(in, xs, K, n);

  // acc[j]: the products of token tile j (tokens 8j .. 8j + 7; lane g feeds token 8j + g).
  float acc[kTokenTiles][4] = {};
  // Token g + 8j's input of step s (zeros past the input or the warp's slice).
  auto input = [&](int j, int s) -> uint4 {
    const int k = s * 32 + 8 * t;
    if (g + 8 * j < n && s < s_end && k < K) return load_input(in, xs, K, g + 8 * j, k);
    return make_uint4(0, 0, 0, 0);
  };
  auto step = [&](Batch<W, kSteps>& buf, int& pass, int& batch) -> bool {
    if (pass >= n_passes) return false;
    const int s0 = s_begin + batch * kSteps;
    if constexpr (kTokenTiles == 1) {
      // Every step's input loaded before the first product: they overlap.
      uint4 b[kSteps];
#pragma unroll
      for (int u = 0; u < kSteps; ++u) b[u] = input(0, s0 + u);
#pragma unroll
      for (int u = 0; u < kSteps; ++u) {
        const uint4 a0 = w.expand(buf.a0[u]), a1 = w.expand(buf.a1[u]);
        mma_f16_16816(acc[0], a0.x, a1.x, a0.y, a1.y, b[u].x, b[u].y);
        mma_f16_16816(acc[0], a0.z, a1.z, a0.w, a1.w, b[u].z, b[u].w);
      }
    } else {
      // One step's inputs at a time (kTokenTiles × 16 bytes): all steps' would not fit in
      // registers. The next step's are loaded before this step's products.
      uint4 b[kTokenTiles], next[kTokenTiles];
#pragma unroll
      for (int j = 0; j < kTokenTiles; ++j) b[j] = input(j, s0);
#pragma unroll
      for (int u = 0; u < kSteps; ++u) {
        if (u + 1 < kSteps) {
#pragma unroll
          for (int j = 0; j < kTokenTiles; ++j) next[j] = input(j, s0 + u + 1);
        }
        const uint4 a0 = w.expand(buf.a0[u]), a1 = w.expand(buf.a1[u]);
#pragma unroll
        for (int j = 0; j < kTokenTiles; ++j) {
          mma_f16_16816(acc[j], a0.x, a1.x, a0.y, a1.y, b[j].x, b[j].y);
          mma_f16_16816(acc[j], a0.z, a1.z, a0.w, a1.w, b[j].z, b[j].w);
        }
        if (u + 1 < kSteps) {
#pragma unroll
          for (int j = 0; j < kTokenTiles; ++j) b[j] = next[j];
        }
      }
    }
    if (batch == batches - 1) {  // the tiles are complete: reduce over each group, store
      if constexpr (KW > 1) {
#pragma unroll
        for (int j = 0; j < kTokenTiles; ++j)
#pragma unroll
          for (int i = 0; i < 4; ++i) red[warp][4 * j + i][lane] = acc[j][i];
        __syncthreads();
        if (kw == 0) {
#pragma unroll
          for (int j = 0; j < kTokenTiles; ++j)
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              float v = 0.f;
#pragma unroll
              for (int w2 = 0; w2 < KW; ++w2) v += red[group * KW + w2][4 * j + i][lane];
              acc[j][i] = v;
            }
        }
      }
      const int tile = tile_of(pass);
      if (kw == 0 && tile < n_tiles) {
#pragma unroll
        for (int j = 0; j < kTokenTiles; ++j)
          if (8 * j < n) epi.store(tile, g, t, acc[j], 8 * j, n);
      }
      if constexpr (KW > 1) __syncthreads();
#pragma unroll
      for (int j = 0; j < kTokenTiles; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[j][i] = 0.f;
    }
    advance(pass, batch);
    advance(pass, batch);
    if (pass < n_passes) load(buf, pass, batch);
    return true;
  };
  while (step(A, pa, ba) && step(B, pb, bb)) {
  }
}

template <int WARPS, int KW, int kSteps, int kTokenTiles, class W, class In, class Epi>
__global__ void __launch_bounds__(WARPS * 32)
    gemv_kernel(W w, int K, int n_tiles, int n, In in, Epi epi) {
  extern __shared__ uint4 smem_dyn[];
  gemv_body<WARPS, KW, kSteps, kTokenTiles>(w, K, n_tiles, n, in, epi, reinterpret_cast<f16*>(smem_dyn),
                                            int(blockIdx.x), int(gridDim.x));
}

// One launch for a matrix stored as two row ranges of different formats (the Q4_K_M
// mix's q/k rows in Q4_K and v rows in Q6_K): blocks 0 .. grid1 − 1 multiply the first
// part, the others the second, each with its own reader and epilogue; the input is the
// same. Saves the second launch's start-up and tail (half the layers of a Q4_K_M file).
template <int WARPS, int kSteps, class W1, class W2, class In, class Epi1, class Epi2>
__global__ void __launch_bounds__(WARPS * 32)
    gemv_two_kernel(W1 w1, W2 w2, int K, int tiles1, int tiles2, int grid1, int n, In in, Epi1 e1,
                    Epi2 e2) {
  extern __shared__ uint4 smem_dyn[];
  f16* xs = reinterpret_cast<f16*>(smem_dyn);
  const int b = int(blockIdx.x);
  if (b < grid1) gemv_body<WARPS, WARPS, kSteps, 1>(w1, K, tiles1, n, in, e1, xs, b, grid1);
  else gemv_body<WARPS, WARPS, kSteps, 1>(w2, K, tiles2, n, in, e2, xs, b - grid1, int(gridDim.x) - grid1);
}

// Epilogue of plain rows: tile i covers rows 16i .. 16i + 15 of the matrix, which land in
// columns row0 + r of y [n][ld]: written as fp32 (logits, a chunk's q/k/v), added to fp32
// (the residual stream) or written as f16 (a chunk's gate/up).
struct RowsEpilogue {
  void* y;
  int ld, row0, rows;
  ProductOut out;

  __device__ int row(int tile, int g, int half) const {
    return min(tile * 16 + half * 8 + g, rows - 1);
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = tile * 16 + half * 8 + g;
      if (r >= rows) continue;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int tok = tok0 + 2 * t + j;
        if (tok >= n) continue;
        const size_t i = size_t(tok) * ld + row0 + r;
        const float v = acc[2 * half + j];
        switch (out) {
          case ProductOut::F32: static_cast<float*>(y)[i] = v; break;
          case ProductOut::F32Add: static_cast<float*>(y)[i] += v; break;
          case ProductOut::F16: static_cast<f16*>(y)[i] = __float2half_rn(v); break;
        }
      }
    }
  }
};

// An epilogue restricted to one part of a matrix stored as row ranges (RowParts): the
// kernel's tile i is the whole matrix's tile first_tile + i, and its weights are read
// from the part, whose row 0 is the whole matrix's row first_row.
template <class Epi>
struct PartEpilogue {
  static constexpr bool kRowsAfterWait = RowsAfterWait<Epi>::value;
  Epi epi;
  int first_tile;
  int first_row;
  __device__ int row(int tile, int g, int half) const {
    return epi.row(tile + first_tile, g, half) - first_row;
  }
  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
    epi.store(tile + first_tile, g, t, acc, tok0, n);
  }
};

// Launches gemv_kernel for weights stored as W with the configured warps and grid. The
// quantized formats are compiled for 4 and 8 warps with 4 or 8 steps (their loads are
// 2–4× smaller than f16's, so more of them may need to be in flight), and for two tile
// group layouts with 8 steps: 8 warps in groups of 2 and 4 warps of one (k_warps 2 and
// 1); six formats × every configuration would multiply the build time for no gain.
template <class W, class In, class Epi>
void launch_stored(const Launch& l, const GemvConfig& c, const W& w, int K, int n_tiles, int n,
                   const In& in, const Epi& epi) {
  if (n < 1 || n > 8) throw Error("gemv: token count out of range");
  if (K % 8 != 0) throw Error("gemv: input dimension must be a multiple of 8");
  if (In::kUsesSmem && size_t(n) * size_t(K + 8) * sizeof(f16) > 200 * 1024) {
    throw Error("gemv: normalized input does not fit in shared memory");
  }
  const size_t smem = In::kUsesSmem ? size_t(n) * size_t(K + 8) * sizeof(f16) : 0;
  const int k_warps = c.k_warps > 0 ? c.k_warps : c.warps;
  const int passes = ceil_div(n_tiles, c.warps / std::max(1, std::min(k_warps, c.warps)));
  int grid = c.grid;
  if (grid <= 0 || grid > passes) grid = passes;
  auto run = [&](auto kernel, int threads) {
    allow_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    launch(l, kernel, dim3(grid), dim3(threads), smem, w, K, n_tiles, n, in, epi);
  };
  if constexpr (!std::is_same_v<W, F16Rows>) {
    if (k_warps < c.warps) {
      if (c.warps == 8 && k_warps == 2 && c.steps == 8) return run(gemv_kernel<8, 2, 8, 1, W, In, Epi>, 256);
      if (c.warps == 4 && k_warps == 1 && c.steps == 8) return run(gemv_kernel<4, 1, 8, 1, W, In, Epi>, 128);
      throw Error("gemv: tile groups are compiled for 8 warps in pairs or 4 single warps, 8 steps");
    }
    if (c.steps >= 8) {
      if (c.warps >= 8) return run(gemv_kernel<8, 8, 8, 1, W, In, Epi>, 256);
      return run(gemv_kernel<4, 4, 8, 1, W, In, Epi>, 128);
    }
    if (c.warps >= 8) return run(gemv_kernel<8, 8, 4, 1, W, In, Epi>, 256);
    return run(gemv_kernel<4, 4, 4, 1, W, In, Epi>, 128);
  } else {
    if (k_warps != c.warps) throw Error("gemv: f16 rows have no tile groups");
    const int key = c.warps * 10 + c.steps;
    switch (key) {
      case 22: return run(gemv_kernel<2, 2, 2, 1, W, In, Epi>, 64);
      case 24: return run(gemv_kernel<2, 2, 4, 1, W, In, Epi>, 64);
      case 42: return run(gemv_kernel<4, 4, 2, 1, W, In, Epi>, 128);
      case 44: return run(gemv_kernel<4, 4, 4, 1, W, In, Epi>, 128);
      case 82: return run(gemv_kernel<8, 8, 2, 1, W, In, Epi>, 256);
      case 84: return run(gemv_kernel<8, 8, 4, 1, W, In, Epi>, 256);
      default: throw Error("gemv: warps must be 2, 4 or 8 and steps 2 or 4");
    }
  }
}

// Launches gemv_two_kernel for two row ranges in formats W1 and W2 (4 or 8 warps, 4 or 8
// steps; no tile groups). The blocks are split between the parts in proportion to their
// tiles; grid 0: one block per tile.
template <class W1, class W2, class In, class Epi1, class Epi2>
void launch_two_stored(const Launch& l, const GemvConfig& c, const W1& w1, const W2& w2, int K,
                       int tiles1, int tiles2, int n, const In& in, const Epi1& e1, const Epi2& e2) {
  if (n < 1 || n > 8) throw Error("gemv: token count out of range");
  if (K % 8 != 0) throw Error("gemv: input dimension must be a multiple of 8");
  if (In::kUsesSmem && size_t(n) * size_t(K + 8) * sizeof(f16) > 200 * 1024) {
    throw Error("gemv: normalized input does not fit in shared memory");
  }
  const size_t smem = In::kUsesSmem ? size_t(n) * size_t(K + 8) * sizeof(f16) : 0;
  int grid1 = tiles1, grid2 = tiles2;
  const int tiles = tiles1 + tiles2;
  if (c.grid > 0 && c.grid < tiles) {
    grid1 = std::max(1, std::min(tiles1, int((int64_t(c.grid) * tiles1 + tiles / 2) / tiles)));
    grid2 = std::max(1, std::min(tiles2, c.grid - grid1));
  }
  auto run = [&](auto kernel, int threads) {
    allow_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    launch(l, kernel, dim3(grid1 + grid2), dim3(threads), smem, w1, w2, K, tiles1, tiles2, grid1, n,
           in, e1, e2);
  };
  if (c.steps >= 8) {
    if (c.warps >= 8) return run(gemv_two_kernel<8, 8, W1, W2, In, Epi1, Epi2>, 256);
    return run(gemv_two_kernel<4, 8, W1, W2, In, Epi1, Epi2>, 128);
  }
  if (c.warps >= 8) return run(gemv_two_kernel<8, 4, W1, W2, In, Epi1, Epi2>, 256);
  return run(gemv_two_kernel<4, 4, W1, W2, In, Epi1, Epi2>, 128);
}

// The two parts of `m` in one launch, for the format pairs of the K-quant mixes (Q4_K or
// Q5_K rows, then Q6_K rows); false (nothing launched) for any other pair.
template <class In, class Epi1, class Epi2>
bool launch_two_parts(const Launch& l, const GemvConfig& c, const RowParts& m, int K, int tiles1,
                      int tiles2, int n, const In& in, const Epi1& e1, const Epi2& e2) {
  if (m.count != 2) return false;
  const DeviceMatrix &a = m.part[0], &b = m.part[1];
  if (a.cols != K || b.cols != K) throw Error("gemv: matrix width does not match the input");
  if (b.type != StoredType::Q6_K) return false;
  const Q6Rows wb{b.codes, b.high, b.scales, b.cols};
  if (a.type == StoredType::Q4_K || a.type == StoredType::Q4_1) {
    launch_two_stored(l, c, Q4AffineRows{a.codes, a.high, a.scales, a.cols}, wb, K, tiles1, tiles2, n, in, e1, e2);
    return true;
  }
  if (a.type == StoredType::Q5_K || a.type == StoredType::Q5_1) {
    launch_two_stored(l, c, Q5AffineRows{a.codes, a.high, a.scales, a.cols}, wb, K, tiles1, tiles2, n, in, e1, e2);
    return true;
  }
  return false;
}

// Launches gemv_kernel for a chunk of up to 64 tokens (the prefill path's products): 4
// warps, 2 steps per batch for f16 rows and one load unit (4 steps) for the planes, and
// as many 8-token products per weight fragment as the chunk needs. The input comes from
// global memory (VecInput): 64 normalized rows would not fit in shared memory.
template <class W, class Epi>
void launch_chunk_stored(const Launch& l, int grid, const W& w, int K, int n_tiles, int n,
                         const VecInput& in, const Epi& epi) {
  if (n < 1 || n > kChunkGemvMaxTokens) throw Error("gemv: chunk token count out of range");
  if (K % 8 != 0) throw Error("gemv: input dimension must be a multiple of 8");
  if (grid <= 0 || grid > n_tiles) grid = n_tiles;
  constexpr int kSteps = std::is_same_v<W, F16Rows> ? 2 : W::kUnit;
  auto run = [&](auto kernel) { launch(l, kernel, dim3(grid), dim3(128), 0, w, K, n_tiles, n, in, epi); };
  if (n <= 8) return run(gemv_kernel<4, 4, kSteps, 1, W, VecInput, Epi>);
  if (n <= 16) return run(gemv_kernel<4, 4, kSteps, 2, W, VecInput, Epi>);
  if (n <= 32) return run(gemv_kernel<4, 4, kSteps, 4, W, VecInput, Epi>);
  return run(gemv_kernel<4, 4, kSteps, 8, W, VecInput, Epi>);
}

// Launches gemv_kernel for the matrix's storage format.
template <class In, class Epi>
void launch_gemv(const Launch& l, const GemvConfig& c, const DeviceMatrix& m, int K, int n_tiles,
                 int n, const In& in, const Epi& epi) {
  if (m.cols != K) throw Error("gemv: matrix width does not match the input");
  visit_rows(m, [&](const auto& w) { launch_stored(l, c, w, K, n_tiles, n, in, epi); });
}

// The normalized-input operators: fused RMSNorm, or pre-normalized f16 rows.
template <class Epi>
void launch_normed(const Launch& l, const GemvConfig& c, const DeviceMatrix& w, int K, int n_tiles,
                   int n, const NormedInput& x, const Epi& epi) {
  if (x.xn) {
    launch_gemv(l, c, w, K, n_tiles, n, VecInput{x.xn}, epi);
  } else {
    launch_gemv(l, c, w, K, n_tiles, n, NormInput{x.x, x.norm_w, x.eps}, epi);
  }
}
template <class Epi1, class Epi2>
bool launch_normed_two_parts(const Launch& l, const GemvConfig& c, const RowParts& m, int K, int tiles1,
                             int tiles2, int n, const NormedInput& x, const Epi1& e1, const Epi2& e2) {
  if (x.xn) return launch_two_parts(l, c, m, K, tiles1, tiles2, n, VecInput{x.xn}, e1, e2);
  return launch_two_parts(l, c, m, K, tiles1, tiles2, n, NormInput{x.x, x.norm_w, x.eps}, e1, e2);
}

}  // namespace tramontane::cuda::gemv
