// RMSNorm → QKV projection → RoPE → q out, k/v into the rolling cache; for decode and
// appends of up to 8 tokens. One pass over Wqkv; see gemv.cuh for the kernel.
#include "gemv.cuh"
#include "ops.h"

namespace tramontane::cuda {
namespace {

// Tiles: first the q heads, then the k heads, 8 RoPE pairs per tile (rows g and g+8 of
// the fragment are the two halves of a pair), then the v rows, 16 plain rows per tile.
struct QkvEpilogue {
  f16* q;        // [n][n_heads · head_dim]
  f16* kc;       // [n_kv_heads][C][head_dim]
  f16* vc;
  const float* inv_freq;  // [head_dim / 2]
  const int* d_pos;
  int n_heads, n_kv_heads, head_dim, capacity;
  int interleaved;

  __device__ int tiles_per_head() const { return head_dim / 16; }
  __device__ int rotated_tiles() const { return (n_heads + n_kv_heads) * tiles_per_head(); }

  __device__ int row(int tile, int g, int half) const {
    if (tile < rotated_tiles()) {
      const int head = tile / tiles_per_head();  // q heads, then k heads
      const int i = (tile % tiles_per_head()) * 8 + g;  // pair index < head_dim / 2
      const int base = head * head_dim;
      return interleaved ? base + 2 * i + half : base + i + half * (head_dim / 2);
    }
    return (n_heads + n_kv_heads) * head_dim + (tile - rotated_tiles()) * 16 + half * 8 + g;
  }

  __device__ void store(int tile, int g, int t, const float* acc, int tok0, int n) const {
    const int pos0 = *d_pos;
    if (tile < rotated_tiles()) {
      const int head = tile / tiles_per_head();
      const int i = (tile % tiles_per_head()) * 8 + g;
      const int d0 = interleaved ? 2 * i : i;
      const int d1 = interleaved ? 2 * i + 1 : i + head_dim / 2;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int tok = tok0 + 2 * t + j;
        if (tok >= n) continue;
        const int pos = pos0 + tok;
        float s, c;
        sincosf(float(pos) * inv_freq[i], &s, &c);
        const float x0 = acc[j], x1 = acc[2 + j];
        const float y0 = x0 * c - x1 * s;
        const float y1 = x1 * c + x0 * s;
        if (head < n_heads) {
          f16* qt = q + size_t(tok) * n_heads * head_dim + size_t(head) * head_dim;
          qt[d0] = __float2half_rn(y0);
          qt[d1] = __float2half_rn(y1);
        } else {
          const int slot = pos % capacity;
          f16* kt = kc + (size_t(head - n_heads) * capacity + slot) * head_dim;
          kt[d0] = __float2half_rn(y0);
          kt[d1] = __float2half_rn(y1);
        }
      }
    } else {
      const int e0 = (tile - rotated_tiles()) * 16 + g;  // flat index in the v rows
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int e = e0 + half * 8;
        const int kvh = e / head_dim, d = e % head_dim;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int tok = tok0 + 2 * t + j;
          if (tok >= n) continue;
          const int slot = (pos0 + tok) % capacity;
          vc[(size_t(kvh) * capacity + slot) * head_dim + d] = __float2half_rn(acc[2 * half + j]);
        }
      }
    }
  }
};

}  // namespace

int gemv_qkv_tiles(const AttnShape& a) {
  return (a.n_heads + a.n_kv_heads) * (a.head_dim / 16) + a.n_kv_heads * a.head_dim / 16;
}

void gemv_qkv(const Launch& l, const GemvConfig& c, const RowParts& wqkv, const NormedInput& x,
              int n, int dim, const AttnShape& a,
              RopeLayout layout, const float* inv_freq, const int* d_pos, f16* q_out,
              f16* k_cache, f16* v_cache) {
  if (a.head_dim % 16 != 0) throw Error("gemv_qkv: head_dim must be a multiple of 16");
  if (wqkv.rows() != a.q_dim() + 2 * a.kv_dim()) throw Error("gemv_qkv: q/k/v rows do not match");
  QkvEpilogue epi{q_out, k_cache, v_cache, inv_freq, d_pos, a.n_heads, a.n_kv_heads,
                  a.head_dim, a.capacity, layout == RopeLayout::Interleaved ? 1 : 0};
  if (wqkv.count == 1) {
    gemv::launch_normed(l, c, wqkv.part[0], dim, gemv_qkv_tiles(a), n, x, epi);
    return;
  }
  // Parts start at the q, k or v boundary, all multiples of 16 rows: tile i of either
  // numbering covers rows 16i .. 16i + 15.
  if (c.one_launch && wqkv.count == 2 && (c.k_warps == 0 || c.k_warps == c.warps)) {
    const gemv::PartEpilogue<QkvEpilogue> e0{epi, wqkv.first_row[0] / 16, wqkv.first_row[0]};
    const gemv::PartEpilogue<QkvEpilogue> e1{epi, wqkv.first_row[1] / 16, wqkv.first_row[1]};
    if (gemv::launch_normed_two_parts(l, c, wqkv, dim, wqkv.part[0].rows / 16, wqkv.part[1].rows / 16, n, x,
                                      e0, e1))
      return;
  }
  for (int p = 0; p < wqkv.count; ++p) {
    const int first_tile = wqkv.first_row[p] / 16;
    gemv::PartEpilogue<QkvEpilogue> part{epi, first_tile, wqkv.first_row[p]};
    gemv::launch_normed(l, c, wqkv.part[p], dim, wqkv.part[p].rows / 16, n, x, part);
  }
}

}  // namespace tramontane::cuda
