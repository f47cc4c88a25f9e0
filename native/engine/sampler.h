// Picks the next token from a row of logits: greedy, or temperature → top-k → top-p
// (the order HF's generate applies them) with a seeded, portable RNG.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tramontane/engine.h"

namespace tramontane {

// Index of the largest logit (the lowest index among equals).
int argmax(const float* logits, int n);

class Sampler {
 public:
  explicit Sampler(int vocab_size);

  void seed(uint64_t seed) { rng_.seed(seed); }

  // Greedy when temperature is 0 or top_k is 1. Buffers are sized once, at construction.
  int sample(const float* logits, const SamplingParams& params);

 private:
  double uniform();  // [0, 1), the same sequence on every platform for a given seed

  int vocab_;
  std::mt19937_64 rng_;
  std::vector<int> order_;    // candidate ids, best first once sorted
  std::vector<double> prob_;  // candidate probabilities, parallel to order_
};

}  // namespace tramontane
