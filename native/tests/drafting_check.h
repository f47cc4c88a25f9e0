// Speculative decoding checked against plain decoding on any model and backend, through
// the engine's public API: the GPU engine test (cuda/tests/engine_cuda.cpp) runs it on
// every fixture and the 7B shape, tramontane-check_drafting (tools/check_drafting.cpp) on
// any model file with either backend.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "tramontane/engine.h"

namespace tramontane::drafting_check {

// One check's outcome and what it checked.
using Check = std::function<void(bool ok, const std::string& what)>;

// Logits of every position of `n` tokens.
struct Logits {
  std::vector<float> v;
  int n = 0, vocab = 0;
  const float* row(int t) const { return v.data() + size_t(t) * vocab; }
};

// Feeds the tokens in chunks of `chunk` and returns the logits of every position.
inline Logits run(Model& model, const std::vector<int>& tokens, int chunk, int slack) {
  SessionOptions o;
  o.chunk = chunk;
  o.slack = slack;
  auto s = model.new_session(o);
  Logits out;
  out.n = int(tokens.size());
  out.vocab = model.config().vocab_size;
  out.v.resize(size_t(out.n) * out.vocab);
  s->feed(tokens.data(), tokens.size(), out.v.data());
  return out;
}

// Speculative decoding against plain decoding: greedy generation with drafting off
// (max_draft 0) and on (8; on the GPU at most 7 a step, none for a mixture of experts),
// from a prompt that repeats itself so drafts are proposed and verified in multi-token
// forwards, must give the same tokens. Across chunk sizes (a verify run split over
// chunks), with a slack smaller than the draft (drafts are capped by it: the rejected
// ones are still rolled back exactly), after a rollback into the output followed by
// generate again, and, for a model without a window, up to a full context (drafts are
// capped by what is left of it). A verify forward may run other kernels than plain
// decoding: where rounding flips a near-tie the outputs may part, which is allowed only
// where the plain path's top two logits at the parting are closer than 5× the logit
// error measured there between a chunked and a token-by-token feed (where those agree
// exactly, as on the CPU, the outputs must be identical).
struct Drafted {
  std::vector<int> tokens, again;
  size_t held = 0;
  int steps = 0, drafted = 0, accepted = 0;
  std::string finish;
};

inline Drafted generate_drafted(Model& m, const std::vector<int>& prompt, SessionOptions o, int n) {
  auto s = m.new_session(o);
  s->feed(prompt.data(), prompt.size(), nullptr);
  SamplingParams p;
  p.max_tokens = n;
  Drafted d;
  const GenerateResult r = s->generate(p, nullptr);
  d.tokens = r.tokens;
  d.steps = r.steps;
  d.drafted = r.drafted;
  d.accepted = r.accepted;
  d.finish = finish_reason_name(r.finish);
  d.held = s->tokens().size();
  // Back into the output, then the rest again: drafts are proposed from the same text.
  const size_t half = d.tokens.size() / 2;
  s->rollback(prompt.size() + half);
  p.max_tokens = int(d.tokens.size() - half);
  d.again = d.tokens;
  d.again.resize(half);
  for (int t : s->generate(p, nullptr).tokens) d.again.push_back(t);
  return d;
}

// Where two greedy outputs part: "" when identical or parted at a near-tie, else why not.
inline std::string parting(Model& m, const std::vector<int>& prompt, const std::vector<int>& a,
                           const std::vector<int>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "";
  if (i == a.size() || i == b.size()) return "lengths differ after " + std::to_string(i) + " common tokens";
  std::vector<int> text = prompt;
  text.insert(text.end(), a.begin(), a.begin() + std::ptrdiff_t(i));
  const Logits chunked = run(m, text, int(text.size()), 256), stepped = run(m, text, 1, 256);
  const float* x = chunked.row(chunked.n - 1);
  const float* y = stepped.row(stepped.n - 1);
  double num = 0;
  for (int v = 0; v < chunked.vocab; ++v) num += double(x[v] - y[v]) * (x[v] - y[v]);
  const double error = std::sqrt(num / chunked.vocab);
  const double gap = std::abs(double(y[a[i]]) - double(y[b[i]]));
  char line[200];
  std::snprintf(line, sizeof line, "parted at token %zu (%d vs %d): logit gap %.3g, logit error %.3g", i,
                a[i], b[i], gap, error);
  std::printf("       %s\n", line);
  return gap <= 5 * error ? "" : line;
}

// A prompt the model continues as it did before, so drafts are proposed and kept even
// with random weights: a stretch S of the sequence, the model's own greedy text G after
// it, then S again. With a window W and L layers a position depends on the last
// L·(W − 1) + 1 tokens only: when S is that long, the text after the copy is G again
// (drafted from its first occurrence). Of the stretches tried, the one G runs longest
// after (a random model may stop early at its EOS).
inline std::vector<int> repetitive_prompt(Model& m, const std::vector<int>& tokens) {
  const ModelConfig& c = m.config();
  const int reach = c.sliding_window > 0 ? c.n_layers * (c.sliding_window - 1) + 1 : 24;
  const size_t len = std::min<size_t>({size_t(reach), 48, tokens.size()});
  std::vector<int> best;
  size_t longest = 0;
  for (size_t start = 0; start + len <= tokens.size() && longest < 32; start += 8) {
    const std::vector<int> stretch(tokens.begin() + std::ptrdiff_t(start),
                                   tokens.begin() + std::ptrdiff_t(start + len));
    SessionOptions o;
    o.max_draft = 0;
    auto s = m.new_session(o);
    s->feed(stretch.data(), stretch.size(), nullptr);
    SamplingParams p;
    p.max_tokens = 32;
    const std::vector<int> text = s->generate(p, nullptr).tokens;
    if (text.size() < longest && !best.empty()) continue;
    longest = text.size();
    best = stretch;
    best.insert(best.end(), text.begin(), text.end());
    best.insert(best.end(), stretch.begin(), stretch.end());
  }
  return best;
}

// Prints each check through `check` and the drafting totals.
inline void check_drafting(Model& m, const std::vector<int>& tokens, const Check& check) {
  const ModelConfig& c = m.config();
  const std::vector<int> prompt = repetitive_prompt(m, tokens);
  const int n = 64;
  int accepted = 0, drafted = 0, steps = 0, produced = 0;
  for (auto [chunk, slack] : {std::pair{512, 256}, std::pair{4, 256}, std::pair{1, 16}, std::pair{64, 3},
                              std::pair{64, 0}}) {
    SessionOptions o;
    o.chunk = chunk;
    o.slack = slack;
    o.max_draft = 0;
    const Drafted plain = generate_drafted(m, prompt, o, n);
    o.max_draft = 8;
    const Drafted fast = generate_drafted(m, prompt, o, n);
    const std::string what = "chunk " + std::to_string(chunk) + ", slack " + std::to_string(slack);
    const std::string parted = parting(m, prompt, plain.tokens, fast.tokens);
    check(parted.empty(), what + ": max_draft 8 == max_draft 0, " + std::to_string(fast.tokens.size()) +
                              " tokens (" + std::to_string(fast.accepted) + " of " +
                              std::to_string(fast.drafted) + " drafts kept, " +
                              std::to_string(fast.steps) + " steps)" + (parted.empty() ? "" : ": " + parted));
    check(parting(m, prompt, fast.tokens, fast.again).empty() && parting(m, prompt, plain.tokens, plain.again).empty(),
          what + ": rollback into the output, generate again: same tokens");
    check(fast.held == prompt.size() + fast.tokens.size() && fast.steps + fast.accepted == int(fast.tokens.size()),
          what + ": session holds prompt + output, steps + kept drafts == tokens");
    check(c.sliding_window == 0 || fast.drafted <= int(fast.steps) * std::min(8, slack),
          what + ": no draft longer than the slack");
    // On the GPU a verification stays on the decode kernels (8 rows): at most 7 drafts a
    // step; a mixture of experts drafts nothing (KvCache::single_step_batch).
    if (m.backend() != BackendKind::Cuda) {
      check(fast.drafted <= int(fast.steps) * 8, what + ": no draft longer than 8 tokens");
    } else if (m.config().feed_forward == FeedForwardKind::MixtureOfExperts) {
      check(fast.drafted == 0, what + ": a mixture of experts drafts nothing on the GPU");
    } else {
      check(fast.drafted <= int(fast.steps) * 7, what + ": no draft longer than 7 tokens");
    }
    accepted += fast.accepted;
    drafted += fast.drafted;
    steps += fast.steps;
    produced += int(fast.tokens.size());
  }
  std::printf("       drafting: %d of %d drafts kept, %d steps for %d tokens\n", accepted, drafted, steps,
              produced);
  if (c.sliding_window == 0) {
    // A context that ends inside the output: drafts near the end are cut to what is left.
    SessionOptions o;
    o.context = int(prompt.size()) + 40;
    o.max_draft = 0;
    const Drafted plain = generate_drafted(m, prompt, o, n);
    o.max_draft = 8;
    const Drafted fast = generate_drafted(m, prompt, o, n);
    const std::string parted = parting(m, prompt, plain.tokens, fast.tokens);
    check(parted.empty() && fast.finish == plain.finish && fast.held == plain.held,
          "context of " + std::to_string(o.context) + ": drafting fills it as plain decoding does (" +
              std::to_string(fast.tokens.size()) + " tokens, " + fast.finish + ")" +
              (parted.empty() ? "" : ": " + parted));
  }
}

}  // namespace tramontane::drafting_check
