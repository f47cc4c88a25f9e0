// Prefill RoPE: splits the fp32 QKV product of a chunk into RoPE'd q (f16 [n][q_dim])
// and the chunk's own keys and values (f16 [kv_head][n][head_dim]), which attention
// reads before kv_commit moves them into the cache. One block per token.
#include "ops.h"

namespace tramontane::cuda {
namespace {

__global__ void rope_qkv_kernel(const float* __restrict__ qkv, int n, int pos0, int n_heads,
                                int n_kv_heads, int head_dim, int interleaved,
                                const float* __restrict__ inv_freq, f16* __restrict__ q,
                                f16* __restrict__ k_new, f16* __restrict__ v_new) {
  pdl_enter();
  const int tok = blockIdx.x;
  const int pos = pos0 + tok;
  const int half = head_dim / 2;
  const int width = (n_heads + 2 * n_kv_heads) * head_dim;
  const float* row = qkv + size_t(tok) * width;
  const int rotated_pairs = (n_heads + n_kv_heads) * half;
  for (int p = threadIdx.x; p < rotated_pairs; p += blockDim.x) {
    const int head = p / half, i = p % half;
    const int d0 = interleaved ? 2 * i : i;
    const int d1 = interleaved ? 2 * i + 1 : i + half;
    const float x0 = row[head * head_dim + d0], x1 = row[head * head_dim + d1];
    float s, c;
    sincosf(float(pos) * inv_freq[i], &s, &c);
    const f16 y0 = __float2half_rn(x0 * c - x1 * s);
    const f16 y1 = __float2half_rn(x1 * c + x0 * s);
    if (head < n_heads) {
      f16* qt = q + (size_t(tok) * n_heads + head) * head_dim;
      qt[d0] = y0;
      qt[d1] = y1;
    } else {
      f16* kt = k_new + (size_t(head - n_heads) * n + tok) * head_dim;
      kt[d0] = y0;
      kt[d1] = y1;
    }
  }
  const float* vrow = row + (n_heads + n_kv_heads) * head_dim;
  for (int e = threadIdx.x; e < n_kv_heads * head_dim; e += blockDim.x) {
    const int kvh = e / head_dim, d = e % head_dim;
    v_new[(size_t(kvh) * n + tok) * head_dim + d] = __float2half_rn(vrow[e]);
  }
}

}  // namespace

void rope_qkv(const Launch& l, const float* qkv, int n, int pos0, const AttnShape& a,
              RopeLayout layout, const float* inv_freq, f16* q, f16* k_new, f16* v_new) {
  if (a.head_dim % 2 != 0) throw Error("rope_qkv: odd head_dim");
  if (n <= 0) return;
  launch(l, rope_qkv_kernel, dim3(n), dim3(256), 0, qkv, n, pos0, a.n_heads, a.n_kv_heads,
         a.head_dim, layout == RopeLayout::Interleaved ? 1 : 0, inv_freq, q, k_new, v_new);
}

}  // namespace tramontane::cuda
