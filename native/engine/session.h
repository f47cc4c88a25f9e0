// A sequence of tokens with its rolling KV cache: feed, rollback, reuse, generate. The
// one owner of the session rules for every backend: token ids, capacity and "context
// full", chunking, which positions the cache holds (KvPositions), rollback and
// cancellation. The backend's KvCache runs each chunk at the positions given here.
//
// Invariants between calls: the cache holds exactly tokens() (positions.end() ==
// tokens().size()), and last_logits() is the model's output after the last token
// (null only while the session is empty).
#pragma once

#include <memory>
#include <vector>

#include "draft.h"
#include "kv_cache.h"
#include "model.h"
#include "sampler.h"

namespace tramontane {

class ModelSession : public Session {
 public:
  ModelSession(std::shared_ptr<LoadedModel> model, const SessionOptions& options);

  const std::vector<int>& tokens() const override { return tokens_; }
  int window() const override { return positions_.window(); }
  int capacity() const override { return positions_.capacity(); }

  void feed(const int* tokens, size_t n, float* logits, const std::atomic<bool>* cancel) override;
  const float* last_logits() const override { return tokens_.empty() ? nullptr : last_logits_.data(); }
  size_t rollback(size_t length) override;
  ReuseStats reuse(const std::vector<int>& prompt, const std::atomic<bool>* cancel) override;
  GenerateResult generate(const SamplingParams& params, const OnText& on_text,
                          const std::atomic<bool>* cancel) override;

 private:
  void check_ids(const int* tokens, size_t n) const;
  void check_fits(size_t total) const;
  // One chunk through the cache at the next positions; commits them.
  void forward(const int* tokens, int n, float* logits, bool all_rows);
  // Throws when a mapped weight file changed on disk (MappedFile), emptying the session:
  // the pass that noticed read zeros where weights were.
  void check_weights();
  // Cuts tokens() to `length` without computing anything: exact when the cache allows,
  // else empties the session (the caller re-feeds). Returns the tokens still held.
  size_t cut(size_t length);
  // Speculation: the drafts to try after `id` (none past a stop token, the length
  // limit, the slack or a full context).
  std::vector<int> propose(int id, const SamplingParams& params, size_t generated);
  // Feeds id + draft in one forward pass and keeps id and the drafts the sampler accepts
  // in order (greedy: those matching the model's own picks; sampled: speculative
  // sampling, engine/sampler.h); returns how many drafts were kept and sets *next to
  // the pick that replaced the first rejected one (−1 when all were kept).
  int verify(int id, const std::vector<int>& draft, const SamplingParams& params, int* next);
  // Keeps the first `length` tokens of a verified run, last_logits() from its rows.
  void keep_verified(size_t length);

  std::shared_ptr<LoadedModel> model_;
  SessionOptions options_;
  int vocab_;
  KvPositions positions_;
  std::unique_ptr<KvCache> cache_;
  std::vector<int> tokens_;
  std::vector<int> replay_;        // tokens being re-fed by rollback
  std::vector<float> last_logits_;  // [vocab]
  Sampler sampler_;
  std::vector<float> healed_logits_;  // [vocab], last_logits_ under the heal mask
  PromptLookup lookup_;
  DraftLength draft_length_;
  std::vector<int> context_;          // tokens_ + the pick being drafted after
  std::vector<int> verify_tokens_;    // the pick and its drafts, fed together
  std::vector<float> verify_logits_;  // [1 + drafts][vocab], row r after verify token r
  size_t verify_start_ = 0;           // tokens_.size() before the verified run
};

}  // namespace tramontane
