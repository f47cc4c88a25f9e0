// The fast prefill (and decode) attention: flash-attention style tiles over queries
// and keys, with the online softmax, so a score row is never written out whole.
//
// One call, for one layer:
//   1. keys in blocks of 16 positions aligned to absolute positions (block b holds
//      positions 16b .. 16b+15), keys transposed [hd][16], so 16 scores come out of hd
//      vector multiply-adds, values as rows of hd16 floats (hd rounded up to 16). Blocks
//      wholly before the chunk are read in place from the cache, which keeps this layout
//      (kv_buffer.h; f32 or f16, widened as loaded). The chunk's own blocks, from the
//      one holding its first position, are packed as fp32 in the same layout (their
//      lanes before the chunk copied from the cache), parallel over (head, block).
//   2. tiles: work items are (key/value head g, tile of 16 queries), split over the
//      pool by head first; an item runs the group of query heads that read g, so each
//      key block is read once per tile (decode reads the cache once, not once per query
//      head). For a tile, the key blocks from the block of its first query's first
//      visible key to the block of its last query, in ascending order; per block and
//      per query row (a query head of the group and a query):
//          s    = (q · k_j) · scale for the 16 keys (−∞ outside i − W < j ≤ i)
//          m'   = max(m, max s)     c = exp(m − m')     p = exp(s − m')
//          l    = l · c + Σ p       acc = acc · c + Σ_j p_j v_j
//      and out = acc / l after the last block. A row that sees none of a block's keys
//      skips it (c = 1, p = 0: its bits do not change).
//
// Determinism: a query's result depends only on its position, the keys and the values
// (blocks are aligned to positions, not to the chunk; Σ p adds the 16 lanes as the tree
// k + (k+8), k + (k+4), k + (k+2), k + (k+1); every multiply-add is fused; exp is the
// polynomial of attention_tiled_kernel.h). So a token gets the same bits alone or
// inside any chunk, on any thread count, and with any of the kernels below (AVX-512,
// AVX2, portable). It agrees with attention_reference (two-pass softmax, unfused) to
// fp32 rounding, not to the bit.
#pragma once

#include <cstdint>

#include "attention.h"
#include "cpu_features.h"

namespace tramontane::cpu {

constexpr int kKeyBlock = 16;    // keys per block (one 16-lane vector of scores)
constexpr int kQueryTile = 16;   // queries per work item

// One call's packed keys and values and where its queries are.
struct TiledJob {
  float* out;
  const float* q;
  int n;
  int64_t pos0;
  AttentionShape shape;
  int hd16;             // head_dim rounded up to 16
  float scale;          // 1 / sqrt(head_dim), as the reference rounds it
  const KvBuffer* cache;  // blocks before `base`
  int layer;
  int64_t base;         // first position of the packed blocks: pos0 rounded down to 16
  int blocks;           // packed key blocks per key/value head
  const float* keys;    // [n_kv_heads][blocks][head_dim][16]
  const float* values;  // [n_kv_heads][blocks * 16][hd16]
  int tiles() const { return (n + kQueryTile - 1) / kQueryTile; }
  int64_t items() const { return int64_t(shape.n_kv_heads) * tiles(); }
};

// Floats of per-worker scratch a kernel needs: per query row of a tile (group ·
// kQueryTile of them), its scores, running max, sum and correction, and its output.
inline int64_t tile_scratch_floats(const AttentionShape& s, int hd16) {
  return int64_t(kQueryTile) * (s.n_heads / s.n_kv_heads) * (kKeyBlock + 3 + hd16);
}

// Work items [begin, end) of the job; work: tile_scratch_floats of the worker's own.
using TilesKernel = void (*)(const TiledJob& job, int64_t begin, int64_t end, float* work);
void tiles_avx512(const TiledJob& job, int64_t begin, int64_t end, float* work);
void tiles_avx2(const TiledJob& job, int64_t begin, int64_t end, float* work);
void tiles_portable(const TiledJob& job, int64_t begin, int64_t end, float* work);

// Floats of packed keys and values for chunks of up to `chunk` queries.
int64_t packed_floats(int chunk, const AttentionShape& shape);

// attention() with isa's tile kernels (Reference: attention_reference; Neon: the
// portable kernels, which run on any CPU and serve the tests as the scalar model of the
// others). An x86 isa must be supported.
void attention_with(Isa isa, float* out, const float* q, const float* k, const float* v, int n,
                    int64_t pos0, const KvBuffer& cache, int layer, const AttentionShape& shape,
                    ThreadPool& pool, AttentionScratch& scratch);

}  // namespace tramontane::cpu
