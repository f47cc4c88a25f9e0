// The mixture-of-experts feed-forward block of cuda::Forward (Mixtral), on both paths:
//
//   xn, (chosen, weight) = route(rmsnorm(x))       route_experts, on the device
//   for each slot s = (token t, choice j):          e = chosen[s]
//     y[s] = Wd_e (silu(Wg_e xn[t]) ⊙ (Wu_e xn[t]))
//   x[t] += Σ_j weight[s] · y[s]                    combine_experts, in expert order
//
// Decode (n ≤ 8 tokens, captured in the decode graph): the routing stays on the device
// and the gemv kernels read only the chosen experts' rows, up to 8 slots per launch
// (n = 1, k = 2: each chosen expert's weights once). Prefill: the routing comes back to
// the host (this path is not captured), the chunk's slots are grouped by expert, and
// each expert that has rows runs two cuBLASLt products on them, so its weights are read
// (and, quantized, expanded to f16) once per chunk.
#include <algorithm>
#include <string>

#include "forward.h"

namespace tramontane::cuda {

void Forward::experts_gemv(const DeviceWeights::Layer& lw, int n) {
  const Launch l = launch_cfg();
  const GemvPlan& p = n == 1 ? plan1_ : plan8_;
  const Launch el{l.stream, l.pdl && p.expert_pdl};
  const int k = c_.n_experts_per_token, slots = n * k, d = c_.dim, hid = c_.hidden_dim;
  const DeviceWeights::Layer::Experts& m = lw.moe;
  route_experts(l, a_.x, lw.ffn_norm, c_.norm_eps, m.router, n, d, c_.n_experts, k, moe_.xe, k,
                moe_.routing);
  for (int s0 = 0; s0 < slots; s0 += kGemvMaxTokens) {
    const int count = std::min(kGemvMaxTokens, slots - s0);
    gemv_expert_swiglu(el, p.expert_gate_up, m.wgu, moe_.xe + size_t(s0) * d,
                       moe_.routing.chosen + s0, count, d, hid, a_.h + size_t(s0) * hid);
  }
  for (int s0 = 0; s0 < slots; s0 += kGemvMaxTokens) {
    const int count = std::min(kGemvMaxTokens, slots - s0);
    gemv_expert_down(el, p.expert_down, m.wd, a_.h + size_t(s0) * hid, moe_.routing.chosen + s0,
                     count, hid, d, moe_.y + size_t(s0) * d);
  }
  combine_experts(l, a_.x, moe_.y, moe_.routing, nullptr, n, k, d);
}

void Forward::experts_gemm(const DeviceWeights::Layer& lw, int n) {
  const Launch l = launch_cfg();
  const int k = c_.n_experts_per_token, slots = n * k, d = c_.dim, hid = c_.hidden_dim;
  const int experts = c_.n_experts;
  const DeviceWeights::Layer::Experts& m = lw.moe;
  route_experts(l, a_.x, lw.ffn_norm, c_.norm_eps, m.router, n, d, experts, k, a_.xn, 1,
                moe_.routing);

  // Group the slots by expert (a counting sort, tokens in order within an expert, as the
  // CPU gathers them): expert e's rows are first[e] .. first[e] + count[e] − 1, each group
  // starting at a multiple of group_align rows; slot_row[s] is where slot s landed.
  std::vector<int>& chosen = moe_.host_chosen;
  std::vector<int>& slot_row = moe_.host_slot_row;
  chosen.resize(size_t(slots));
  slot_row.resize(size_t(slots));
  TR_CUDA_CHECK(cudaMemcpyAsync(chosen.data(), moe_.routing.chosen, sizeof(int) * size_t(slots),
                                cudaMemcpyDeviceToHost, stream_));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::vector<int> count(size_t(experts), 0), first(size_t(experts), 0);
  for (int s = 0; s < slots; ++s) {
    const int e = chosen[size_t(s)];
    if (e < 0 || e >= experts) throw Error("the GPU router chose expert " + std::to_string(e));
    ++count[size_t(e)];
  }
  const int align = moe_.group_align;
  for (int e = 1; e < experts; ++e) {
    const int end = first[size_t(e) - 1] + count[size_t(e) - 1];
    first[size_t(e)] = (end + align - 1) / align * align;
  }
  std::vector<int> next = first;
  for (int s = 0; s < slots; ++s) slot_row[size_t(s)] = next[size_t(chosen[size_t(s)])]++;
  TR_CUDA_CHECK(cudaMemcpyAsync(moe_.slot_row, slot_row.data(), sizeof(int) * size_t(slots),
                                cudaMemcpyHostToDevice, stream_));
  gather_expert_rows(l, a_.xn, moe_.slot_row, slots, k, d, moe_.xe);

  for (int e = 0; e < experts; ++e) {
    const int r0 = first[size_t(e)], rows = count[size_t(e)];
    if (rows == 0) continue;
    const f16* wgu = w_.as_f16(l, DeviceWeights::row_range(m.wgu, 2 * hid * e, 2 * hid));
    gemm_.run(stream_, moe_.xe + size_t(r0) * d, wgu, a_.gu + size_t(r0) * 2 * hid, false, rows,
              2 * hid, d, false);
    swiglu(l, a_.gu + size_t(r0) * 2 * hid, rows, hid, a_.h + size_t(r0) * hid);
    const f16* wd = w_.as_f16(l, DeviceWeights::row_range(m.wd, d * e, d));
    gemm_.run(stream_, a_.h + size_t(r0) * hid, wd, moe_.y + size_t(r0) * d, true, rows, d, hid,
              false);
  }
  combine_experts(l, a_.x, moe_.y, moe_.routing, moe_.slot_row, n, k, d);
}

}  // namespace tramontane::cuda
