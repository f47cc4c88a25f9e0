// The reference attention: per (token, head), every score, a softmax, then the values.
#include "attention.h"

#include <cmath>
#include <cstring>

#include "attention_tiled.h"
#include "kv_cache.h"
#include "ops.h"

namespace tramontane::cpu {

void attention(float* out, const float* q, const float* k, const float* v, int n, int64_t pos0,
               const KvBuffer& cache, int layer, const AttentionShape& s, ThreadPool& pool,
               AttentionScratch& scratch) {
  attention_with(active_isa(), out, q, k, v, n, pos0, cache, layer, s, pool, scratch);
}

void attention_reference(float* out, const float* q, const float* k, const float* v, int n, int64_t pos0,
               const KvBuffer& cache, int layer, const AttentionShape& s, ThreadPool& pool,
               AttentionScratch& scratch) {
  const int hd = s.head_dim;
  const int group = s.n_heads / s.n_kv_heads;  // query heads per key/value head
  const size_t q_stride = size_t(s.n_heads) * hd;
  const size_t kv_stride = size_t(s.n_kv_heads) * hd;
  const float scale = float(1.0 / std::sqrt(double(hd)));

  pool.parallel_for(int64_t(n) * s.n_heads, [&](int64_t begin, int64_t end, int worker) {
    float* scores = scratch.per_worker[size_t(worker)].data();
    for (int64_t item = begin; item < end; ++item) {
      const int t = int(item / s.n_heads);
      const int h = int(item % s.n_heads);
      const int g = h / group;
      const int64_t i = pos0 + t;
      const int64_t first = KvPositions::first_visible(i, s.window);
      const int count = int(i - first + 1);

      // Key j: from the cache before this chunk (copied out of its blocks), from the
      // chunk itself after.
      float* kbuf = scores + count;
      float* vbuf = kbuf + hd;
      auto key = [&](int64_t j) -> const float* {
        if (j >= pos0) return k + size_t(j - pos0) * kv_stride + size_t(g) * hd;
        cache.read_key(layer, j, g * hd, hd, kbuf);
        return kbuf;
      };
      auto value = [&](int64_t j) -> const float* {
        if (j >= pos0) return v + size_t(j - pos0) * kv_stride + size_t(g) * hd;
        cache.read_value(layer, j, g * hd, hd, vbuf);
        return vbuf;
      };

      const float* qh = q + size_t(t) * q_stride + size_t(h) * hd;
      for (int c = 0; c < count; ++c) scores[c] = dot(qh, key(first + c), hd) * scale;
      softmax(scores, count);

      float* oh = out + size_t(t) * q_stride + size_t(h) * hd;
      std::memset(oh, 0, sizeof(float) * size_t(hd));
      for (int c = 0; c < count; ++c) {
        const float p = scores[c];
        const float* vj = value(first + c);
        for (int d = 0; d < hd; ++d) oh[d] += p * vj[d];
      }
    }
  });
}

}  // namespace tramontane::cpu
