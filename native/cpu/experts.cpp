// A mixture of experts on the CPU: the router (route) and the layer step
// (Forward::mixture_of_experts), both as transformers' MixtralSparseMoeBlock computes them.
#include "experts.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "forward.h"
#include "ops.h"

namespace tramontane::cpu {

void route(float* logits, int n_experts, int k, int* chosen, float* weights, RouteEntry* queue) {
  softmax(logits, n_experts);
  // torch.topk on the CPU: (value, index) pairs in index order, NaN counted as the
  // largest; a partial sort when 64·k ≤ n, else nth_element at k − 1 and a sort of the
  // k − 1 before it. The same standard algorithms make the same choice among ties.
  for (int e = 0; e < n_experts; ++e) queue[e] = {logits[e], e};
  const auto larger = [](const RouteEntry& a, const RouteEntry& b) {
    return (std::isnan(a.first) && !std::isnan(b.first)) || a.first > b.first;
  };
  if (int64_t(k) * 64 <= n_experts) {
    std::partial_sort(queue, queue + k, queue + n_experts, larger);
  } else {
    std::nth_element(queue, queue + (k - 1), queue + n_experts, larger);
    std::sort(queue, queue + (k - 1), larger);
  }
  float sum = 0;
  for (int j = 0; j < k; ++j) sum += queue[j].first;
  for (int j = 0; j < k; ++j) {
    chosen[j] = queue[j].second;
    weights[j] = queue[j].first / sum;
  }
}

// out = Σ over the chosen experts of weight · expert(x), for each of the n tokens of x.
// Each expert runs once on the rows of the tokens that chose it (gathered into one
// matrix product), experts in index order, as transformers adds them up.
void Forward::mixture_of_experts(const ExpertWeights& w, const float* x, float* out, int n) {
  const int experts = c_.n_experts, k = c_.n_experts_per_token, dim = c_.dim;
  float* logits = router_logits_.data();
  matmul(logits, x, n, w.router, pool_, matmul_scratch_);
  for (int t = 0; t < n; ++t) {
    route(logits + size_t(t) * experts, experts, k, &chosen_[size_t(t) * k], &chosen_weight_[size_t(t) * k],
          route_queue_.data());
  }
  std::fill(out, out + size_t(n) * dim, 0.f);
  for (int e = 0; e < experts; ++e) {
    int rows = 0;
    for (int t = 0; t < n; ++t) {
      for (int j = 0; j < k; ++j) {
        if (chosen_[size_t(t) * k + j] != e) continue;
        expert_token_[size_t(rows)] = t;
        expert_weight_[size_t(rows)] = chosen_weight_[size_t(t) * k + j];
        std::memcpy(&expert_in_[size_t(rows) * dim], x + size_t(t) * dim, size_t(dim) * sizeof(float));
        ++rows;
      }
    }
    if (rows == 0) continue;
    const FeedForwardWeights& f = w.experts[size_t(e)];
    matmul(gate_.data(), expert_in_.data(), rows, f.gate, pool_, matmul_scratch_);
    matmul(up_.data(), expert_in_.data(), rows, f.up, pool_, matmul_scratch_);
    swiglu(gate_.data(), up_.data(), size_t(rows) * c_.hidden_dim);
    matmul(expert_out_.data(), gate_.data(), rows, f.down, pool_, matmul_scratch_);
    for (int r = 0; r < rows; ++r) {
      float* o = out + size_t(expert_token_[size_t(r)]) * dim;
      const float* y = &expert_out_[size_t(r) * dim];
      const float g = expert_weight_[size_t(r)];
      for (int i = 0; i < dim; ++i) o[i] += y[i] * g;
    }
  }
}

}  // namespace tramontane::cpu
