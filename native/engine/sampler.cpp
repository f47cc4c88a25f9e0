#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tramontane {

int argmax(const float* logits, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

Sampler::Sampler(int vocab_size)
    : vocab_(vocab_size), order_(size_t(vocab_size)), prob_(size_t(vocab_size)) {}

double Sampler::uniform() {
  // 53 random bits: std::uniform_real_distribution differs between standard libraries.
  return double(rng_() >> 11) * 0x1.0p-53;
}

bool is_greedy(const SamplingParams& p) { return p.temperature <= 0.f || p.top_k == 1; }

int Sampler::candidates(const float* logits, const SamplingParams& p, double* total) {
  // Candidates, best first when a cut needs the order. Ties go to the lower id so the
  // order, and with it the draw, is fully determined.
  auto better = [logits](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::iota(order_.begin(), order_.end(), 0);
  int count = vocab_;
  if (p.top_k > 0 && p.top_k < vocab_) {
    count = p.top_k;
    std::partial_sort(order_.begin(), order_.begin() + count, order_.end(), better);
  } else if (p.top_p < 1.f) {
    std::sort(order_.begin(), order_.end(), better);
  }

  // Softmax of logits / temperature over the candidates.
  float max_logit = logits[order_[0]];
  for (int i = 1; i < count; ++i) max_logit = std::max(max_logit, logits[order_[size_t(i)]]);
  const double inv_t = 1.0 / double(p.temperature);
  double sum = 0;
  for (int i = 0; i < count; ++i) {
    prob_[size_t(i)] = std::exp((double(logits[order_[size_t(i)]]) - max_logit) * inv_t);
    sum += prob_[size_t(i)];
  }

  // Top-p: the smallest best-first prefix whose mass reaches top_p (at least one).
  if (p.top_p < 1.f) {
    const double target = double(p.top_p) * sum;
    double mass = 0;
    int keep = 0;
    while (keep < count) {
      mass += prob_[size_t(keep++)];
      if (mass >= target) break;
    }
    count = keep;
    sum = mass;
  }
  *total = sum;
  return count;
}

int Sampler::draw(int count, double sum, int skip) {
  double r = uniform() * sum;
  int last = -1;
  for (int i = 0; i < count; ++i) {
    const int id = order_[size_t(i)];
    if (id == skip) continue;
    last = id;
    r -= prob_[size_t(i)];
    if (r < 0) return id;
  }
  return last;  // rounding left r at ≥ 0: the last candidate
}

int Sampler::sample(const float* logits, const SamplingParams& p) {
  if (is_greedy(p)) return argmax(logits, vocab_);
  double sum = 0;
  const int count = candidates(logits, p, &sum);
  return draw(count, sum, -1);
}

int Sampler::sample_with_draft(const float* logits, const SamplingParams& p, int draft) {
  if (is_greedy(p)) return argmax(logits, vocab_);
  double sum = 0;
  const int count = candidates(logits, p, &sum);
  double mass = 0;  // p(draft), unnormalised; 0 when the cut dropped it
  for (int i = 0; i < count; ++i) {
    if (order_[size_t(i)] == draft) mass = prob_[size_t(i)];
  }
  if (mass >= sum || uniform() * sum < mass) return draft;  // the first: p(draft) = 1
  // Rejected, so some other candidate has mass (u · sum < sum); the residual of the
  // rounding is its own: at least one candidate other than the draft is left.
  return draw(count, sum - mass, draft);
}

}  // namespace tramontane
