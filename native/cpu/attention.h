// Grouped-query attention with a sliding window, over the KV cache and a fresh chunk.
#pragma once

#include <cstdint>
#include <vector>

#include "kv_buffer.h"
#include "thread_pool.h"

namespace tramontane::cpu {

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int window = 0;  // 0 = full causal attention
};

// Scratch of both paths: per-worker rows (the reference's scores, each long enough for
// every key one query can see; the tiled path's tile state) and the tiled path's keys
// and values of one call, packed (attention_tiled.h). Only grows.
struct AttentionScratch {
  std::vector<std::vector<float>> per_worker;
  std::vector<float> packed;
  // For chunks of up to `chunk` queries that see up to `max_keys` earlier keys.
  void reserve(int workers, int64_t max_keys, int chunk, const AttentionShape& shape);
};

// For the n queries at positions pos0..pos0+n−1 of one layer:
//   out[t][h] = Σ_j softmax_j(q[t][h] · k_j / sqrt(head_dim)) v_j
// over keys j with i − W < j ≤ i (i = pos0 + t; every j ≤ i without a window). Keys
// before pos0 are read from the cache (which must still hold them and must not yet hold
// this chunk); keys from pos0 on come from the chunk's own k/v ([n][n_kv_heads *
// head_dim], after RoPE).
// Query head h reads key/value head h / (n_heads / n_kv_heads). Keys are visited in
// position order, so the result does not depend on the chunking.
// q, out: [n][n_heads * head_dim].
//
// attention() runs the tiled path of attention_tiled.h where the CPU has fast kernels
// (cpu_features.h), else attention_reference(): plain loops, parallel over (token,
// head), the oracle the tiled path is tested against. Both agree to fp32 rounding.
void attention(float* out, const float* q, const float* k, const float* v, int n, int64_t pos0,
               const KvBuffer& cache, int layer, const AttentionShape& shape, ThreadPool& pool,
               AttentionScratch& scratch);
void attention_reference(float* out, const float* q, const float* k, const float* v, int n, int64_t pos0,
               const KvBuffer& cache, int layer, const AttentionShape& shape, ThreadPool& pool,
               AttentionScratch& scratch);

}  // namespace tramontane::cpu
