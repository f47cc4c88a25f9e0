// Moves a prefill chunk's keys/values ([kv_head][n][head_dim]) into the rolling cache
// ([kv_head][C][head_dim], position p in slot p mod C). Runs after the chunk's
// attention, which still needed the slots this overwrites. When n > C only the last C
// positions survive, so only those are written (no two writes to one slot).
#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void kv_commit_kernel(const f16* __restrict__ k_new, const f16* __restrict__ v_new,
                                 int n, int pos0, int first, int head_dim, int capacity,
                                 f16* __restrict__ k_cache, f16* __restrict__ v_cache) {
  pdl_enter();
  const int tok = first + blockIdx.x;  // index in the chunk
  const int kvh = blockIdx.y;
  const int slot = (pos0 + tok) % capacity;
  const int chunks = head_dim / 8;
  const uint4* ks = reinterpret_cast<const uint4*>(k_new + (size_t(kvh) * n + tok) * head_dim);
  const uint4* vs = reinterpret_cast<const uint4*>(v_new + (size_t(kvh) * n + tok) * head_dim);
  uint4* kd = reinterpret_cast<uint4*>(k_cache + (size_t(kvh) * capacity + slot) * head_dim);
  uint4* vd = reinterpret_cast<uint4*>(v_cache + (size_t(kvh) * capacity + slot) * head_dim);
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    kd[c] = ks[c];
    vd[c] = vs[c];
  }
}

}  // namespace

void kv_commit(const Launch& l, const f16* k_new, const f16* v_new, int n, int pos0,
               const AttnShape& a, f16* k_cache, f16* v_cache) {
  if (a.head_dim % 8 != 0) throw Error("kv_commit: head_dim must be a multiple of 8");
  if (n <= 0) return;
  const int first = n > a.capacity ? n - a.capacity : 0;
  launch(l, kv_commit_kernel, dim3(n - first, a.n_kv_heads), dim3(32), 0, k_new, v_new, n, pos0,
         first, a.head_dim, a.capacity, k_cache, v_cache);
}

}  // namespace tramontane::cuda
