// Picks the next token from a row of logits: greedy, or temperature → top-k → top-p
// (the order HF's generate applies them) with a seeded, portable RNG.
//
// Speculative sampling with a drafted token. The drafter (engine/draft.h) is
// deterministic: its proposal q is a point mass on the draft x. The standard rule
// (accept with probability min(1, p(x) / q(x)), else draw from max(0, p − q)
// renormalised) then reads: accept x with probability p(x); on rejection draw from p
// with x removed, renormalised. The result is distributed exactly as p:
//
//     P(x)     = p(x)                                    (accepted)
//     P(y ≠ x) = (1 − p(x)) · p(y) / (1 − p(x)) = p(y)   (rejected, then drawn)
//
// Worked example: p = {a: 0.6, b: 0.3, c: 0.1}, draft a. Accepted with u < 0.6; else
// b or c from {b: 0.75, c: 0.25}: b has (1 − 0.6) · 0.75 = 0.3, as plain sampling
// gives it. A draft outside the top-k / top-p candidates has p(x) = 0 and is always
// rejected. Greedy verification is the same rule with p the point mass on the argmax.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tramontane/engine.h"

namespace tramontane {

// Index of the largest logit (the lowest index among equals).
int argmax(const float* logits, int n);

// Whether params sample the argmax (temperature 0, or top_k 1).
bool is_greedy(const SamplingParams& params);

class Sampler {
 public:
  explicit Sampler(int vocab_size);

  void seed(uint64_t seed) { rng_.seed(seed); }

  // Greedy when temperature is 0 or top_k is 1. Buffers are sized once, at construction.
  int sample(const float* logits, const SamplingParams& params);

  // A token distributed as sample() draws it, given a drafted token: the draft itself
  // when accepted (probability p(draft)), otherwise a different token drawn from p with
  // the draft removed (the rule above). Greedy: the argmax, whatever the draft.
  int sample_with_draft(const float* logits, const SamplingParams& params, int draft);

 private:
  // Fills order_[0, count) and prob_ (unnormalised) with the distribution sample()
  // draws from; returns count, and the candidates' total mass in *sum.
  int candidates(const float* logits, const SamplingParams& params, double* sum);
  // Draws from the candidates, skipping `skip` (an id, or −1) whose mass is not in sum.
  int draw(int count, double sum, int skip);
  double uniform();  // [0, 1), the same sequence on every platform for a given seed

  int vocab_;
  std::mt19937_64 rng_;
  std::vector<int> order_;    // candidate ids, best first once sorted
  std::vector<double> prob_;  // candidate probabilities, parallel to order_
};

}  // namespace tramontane
