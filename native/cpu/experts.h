// The router of a sparse mixture of experts (Mixtral), exactly as transformers computes
// it: p = softmax(router logits) in fp32 over the experts, the k largest p chosen by
// torch.topk's rule, their weights divided by their sum. The layer's output is then
// Σ weight_j · expert_j(x), each expert a SwiGLU MLP (Forward::mixture_of_experts).
#pragma once

#include <utility>

namespace tramontane::cpu {

// logits: [n_experts] router logits of one token, turned into probabilities in place.
// Writes the k chosen experts to `chosen` and their renormalised weights (sum 1) to
// `weights`, the largest first. Exact ties go as torch.topk on the CPU sends them (an
// nth_element selection over (probability, expert) pairs in expert order, not the lower
// index first), so a tied router picks the experts transformers picks. queue: room for
// n_experts pairs (scratch).
using RouteEntry = std::pair<float, int>;
void route(float* logits, int n_experts, int k, int* chosen, float* weights, RouteEntry* queue);

}  // namespace tramontane::cpu
