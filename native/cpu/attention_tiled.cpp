// The tiled attention's packing step and its choice of kernels (attention_tiled.h).
#include "attention_tiled.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kv_cache.h"
#include "tramontane/engine.h"

namespace tramontane::cpu {

namespace {

int round_up16(int x) { return (x + 15) / 16 * 16; }

TilesKernel kernel_for(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case Isa::Avx512: return tiles_avx512;
    case Isa::Avx2: return tiles_avx2;
#endif
    default: return tiles_portable;
  }
}

}  // namespace

int64_t packed_floats(int chunk, const AttentionShape& s) {
  // From the block of the chunk's first position to its end.
  const int64_t blocks = (chunk + 2 * kKeyBlock - 2) / kKeyBlock;
  return int64_t(s.n_kv_heads) * blocks * kKeyBlock * (s.head_dim + round_up16(s.head_dim));
}

void AttentionScratch::reserve(int workers, int64_t max_keys, int chunk, const AttentionShape& s) {
  // The reference's scores and two widened rows; the tiles' state.
  const size_t row = size_t(std::max<int64_t>(max_keys + chunk + 2 * s.head_dim,
                                               tile_scratch_floats(s, round_up16(s.head_dim))));
  per_worker.resize(size_t(workers));
  for (auto& buf : per_worker) {
    if (buf.size() < row) buf.resize(row);
  }
  const size_t pack = size_t(packed_floats(chunk, s));
  if (packed.size() < pack) packed.resize(pack);
}

void attention_with(Isa isa, float* out, const float* q, const float* k, const float* v, int n,
                    int64_t pos0, const KvBuffer& cache, int layer, const AttentionShape& s,
                    ThreadPool& pool, AttentionScratch& scratch) {
  if (isa == Isa::Reference) {
    attention_reference(out, q, k, v, n, pos0, cache, layer, s, pool, scratch);
    return;
  }
  const int hd = s.head_dim, hd16 = round_up16(hd);
  const size_t kv_stride = size_t(s.n_kv_heads) * hd;
  const int64_t first = KvPositions::first_visible(pos0, s.window);  // of the first query
  const int64_t end = pos0 + n;
  const int64_t base = pos0 / kKeyBlock * kKeyBlock;
  const int blocks = int((end - base + kKeyBlock - 1) / kKeyBlock);
  if (size_t(s.n_kv_heads) * blocks * kKeyBlock * (hd + hd16) > scratch.packed.size()) {
    throw Error("attention of " + std::to_string(n) + " queries does not fit the reserved scratch");
  }
  float* keys = scratch.packed.data();
  float* values = keys + size_t(s.n_kv_heads) * blocks * kKeyBlock * hd;

  // 1. Pack the chunk's blocks, parallel over (key/value head, block) for a prefill; on
  // the calling thread for a decode step's one or two blocks, which cost less than
  // waking the pool.
  auto pack = [&](int64_t begin, int64_t stop, int) {
    for (int64_t item = begin; item < stop; ++item) {
      const int g = int(item / blocks), b = int(item % blocks);
      float* kt = keys + size_t(item) * hd * kKeyBlock;
      float* vb = values + size_t(item) * kKeyBlock * hd16;
      for (int c = 0; c < kKeyBlock; ++c) {
        const int64_t j = base + int64_t(b) * kKeyBlock + c;
        float* vr = vb + size_t(c) * hd16;
        if (j < first || j >= end) {
          for (int d = 0; d < hd; ++d) kt[d * kKeyBlock + c] = 0.f;
          std::memset(vr, 0, sizeof(float) * size_t(hd16));
          continue;
        }
        if (j < pos0) {
          cache.read_key(layer, j, g * hd, hd, vr);  // staged in the value row
          for (int d = 0; d < hd; ++d) kt[d * kKeyBlock + c] = vr[d];
          cache.read_value(layer, j, g * hd, hd, vr);
        } else {
          const float* kr = k + size_t(j - pos0) * kv_stride + size_t(g) * hd;
          for (int d = 0; d < hd; ++d) kt[d * kKeyBlock + c] = kr[d];
          std::memcpy(vr, v + size_t(j - pos0) * kv_stride + size_t(g) * hd, sizeof(float) * size_t(hd));
        }
        std::fill(vr + hd, vr + hd16, 0.f);
      }
    }
  };
  const int64_t pack_items = int64_t(s.n_kv_heads) * blocks;
  if (n <= kKeyBlock) pack(0, pack_items, 0);
  else pool.parallel_for(pack_items, pack);

  // 2. Tiles, parallel over (query head, tile of queries).
  const TiledJob job{out,  q,     n,      pos0,   s,      hd16, float(1.0 / std::sqrt(double(hd))),
                     &cache, layer, base, blocks, keys, values};
  const TilesKernel kernel = kernel_for(isa);
  pool.parallel_for(job.items(), [&](int64_t begin, int64_t stop, int worker) {
    kernel(job, begin, stop, scratch.per_worker[size_t(worker)].data());
  });
}

}  // namespace tramontane::cpu
