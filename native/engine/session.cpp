#include "session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "heal.h"
#include "mapped_file.h"
#include "stop_strings.h"
#include "tramontane/tokenizer.h"

namespace tramontane {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::StopToken: return "stop_token";
    case FinishReason::StopString: return "stop_string";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "unknown";
}

// Default cache length for models without a sliding window: the model's own limit,
// capped at 32768 tokens. The cache is allocated lazily (see KvCache), so an unused
// context costs address space, not memory.
static constexpr int kDefaultContextCap = 32768;
static constexpr int kMaxChunk = 1 << 16;
static constexpr int kMaxSlots = 1 << 24;

static int cache_capacity(const ModelConfig& c, const SessionOptions& o) {
  if (o.slack < 0 || o.slack > kMaxSlots) {
    throw Error("slack must be between 0 and " + std::to_string(kMaxSlots) + ", got " +
                std::to_string(o.slack));
  }
  if (o.chunk < 1 || o.chunk > kMaxChunk) {
    throw Error("chunk must be between 1 and " + std::to_string(kMaxChunk) + ", got " +
                std::to_string(o.chunk));
  }
  if (o.context < 0 || o.context > kMaxSlots) {
    throw Error("context must be between 0 (model default) and " + std::to_string(kMaxSlots) +
                ", got " + std::to_string(o.context));
  }
  if (c.sliding_window > 0) return c.sliding_window + o.slack;  // context is unbounded
  if (o.context > 0) return o.context;
  return c.max_position > 0 ? std::min(c.max_position, kDefaultContextCap) : kDefaultContextCap;
}

ModelSession::ModelSession(std::shared_ptr<LoadedModel> model, const SessionOptions& options)
    : model_(std::move(model)),
      options_(options),
      vocab_(model_->config().vocab_size),
      positions_(model_->config().sliding_window, cache_capacity(model_->config(), options)),
      last_logits_(size_t(vocab_)),
      sampler_(vocab_) {
  cache_ = model_->new_cache(positions_.capacity(), options.chunk);
}

void ModelSession::check_ids(const int* tokens, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_) {
      throw Error("token " + std::to_string(i) + " (" + std::to_string(tokens[i]) +
                  ") is not an id in [0, " + std::to_string(vocab_) + ")");
    }
  }
}

void ModelSession::check_fits(size_t total) const {
  if (positions_.window() == 0 && total > size_t(positions_.capacity())) {
    throw Error("context full: " + std::to_string(total) + " tokens exceed the context of " +
                std::to_string(positions_.capacity()));
  }
}

void ModelSession::forward(const int* tokens, int n, float* logits, bool all_rows) {
  cache_->forward(Batch{tokens, n, positions_.end()}, logits, all_rows);
  check_weights();
  positions_.commit(n);
}

void ModelSession::check_weights() {
  try {
    MappedFile::throw_if_any_changed();
  } catch (const Error&) {
    // What was just computed read zeros for lost pages: keep nothing of it.
    positions_.clear();
    tokens_.clear();
    throw;
  }
}

void ModelSession::feed(const int* tokens, size_t n, float* logits, const std::atomic<bool>* cancel) {
  if (n == 0) return;
  check_ids(tokens, n);
  check_fits(tokens_.size() + n);
  // A cancellable feed (a prompt the user may overtake) runs in smaller steps, so that
  // cancellation and preemption wait for one step, not a whole chunk. The CPU forward
  // gives the same result however the tokens are split.
  const size_t chunk = size_t(cancel ? std::min(options_.chunk, cache_->preemption_batch())
                                     : options_.chunk);
  for (size_t done = 0; done < n;) {
    const int m = int(std::min(chunk, n - done));
    if (logits) {
      float* rows = logits + done * size_t(vocab_);
      forward(tokens + done, m, rows, true);
      std::memcpy(last_logits_.data(), rows + size_t(m - 1) * vocab_, sizeof(float) * vocab_);
    } else {
      forward(tokens + done, m, last_logits_.data(), false);
    }
    tokens_.insert(tokens_.end(), tokens + done, tokens + done + m);
    done += size_t(m);
    // Between steps only: the session stays consistent (whole steps, fresh logits).
    if (done < n && cancel && cancel->load()) throw Cancelled("cancelled");
  }
}

size_t ModelSession::cut(size_t length) {
  if (length >= tokens_.size()) return tokens_.size();
  if (positions_.can_truncate(int64_t(length))) {
    positions_.truncate(int64_t(length));
    tokens_.resize(length);
  } else {
    positions_.clear();
    tokens_.clear();
  }
  return tokens_.size();
}

size_t ModelSession::rollback(size_t length) {
  if (length > tokens_.size()) {
    throw Error("rollback to " + std::to_string(length) + " tokens: the session holds only " +
                std::to_string(tokens_.size()));
  }
  if (length == tokens_.size()) return 0;
  if (length == 0) {
    cut(0);
    return 0;
  }
  // The logits after token length−1 were not kept: cut one more and feed it again.
  replay_.assign(tokens_.begin(), tokens_.begin() + std::ptrdiff_t(length));
  const size_t kept = cut(length - 1);
  feed(replay_.data() + kept, length - kept, nullptr, nullptr);
  return length - kept;
}

ReuseStats ModelSession::reuse(const std::vector<int>& prompt, const std::atomic<bool>* cancel) {
  check_ids(prompt.data(), prompt.size());
  check_fits(prompt.size());
  if (prompt.empty()) {
    cut(0);
    return {0, 0};
  }
  size_t common = 0;
  const size_t limit = std::min(prompt.size(), tokens_.size());
  while (common < limit && prompt[common] == tokens_[common]) ++common;
  // A prompt the session already holds in full still needs the logits after its last
  // token: that token is computed again (computed = 1).
  if (common == prompt.size()) --common;
  const size_t kept = cut(common);
  feed(prompt.data() + kept, prompt.size() - kept, nullptr, cancel);
  return {kept, prompt.size() - kept};
}

GenerateResult ModelSession::generate(const SamplingParams& params, const OnText& on_text,
                                    const std::atomic<bool>* cancel) {
  if (tokens_.empty()) throw Error("generate: the session holds no tokens; feed a prompt first");
  if (!(params.temperature >= 0.f) || !std::isfinite(params.temperature)) {
    throw Error("temperature must be a finite number ≥ 0");
  }
  if (params.top_k < 0) throw Error("top_k must be ≥ 0");
  if (!(params.top_p > 0.f && params.top_p <= 1.f)) throw Error("top_p must be in (0, 1]");
  if (params.max_tokens < 0) throw Error("max_tokens must be ≥ 0");
  const Tokenizer* tokenizer = model_->tokenizer();
  StopStrings stops(params.stop_strings);
  bool has_stops = false;
  for (const auto& s : params.stop_strings) has_stops |= !s.empty();
  if (has_stops && !tokenizer) throw Error("stop strings need a tokenizer, and this model has none");

  std::unique_ptr<Tokenizer::StreamDecoder> decoder;
  if (tokenizer) decoder = std::make_unique<Tokenizer::StreamDecoder>(*tokenizer, params.text_start);
  // Token healing (heal.h): the first pick must begin with this text, left out of the output.
  const HealMask* heal_mask = nullptr;
  const std::string* heal_text = nullptr;
  if (params.heal_token >= 0) {
    if (!tokenizer) throw Error("token healing needs a tokenizer, and this model has none");
    heal_mask = &model_->heal_mask();
    heal_text = &heal_mask->text_of(params.heal_token);
    decoder->skip(heal_text->size());
  }
  sampler_.seed(params.seed);
  const int eos = model_->config().eos_id;

  GenerateResult result;
  bool listening = true;  // until on_text returns false
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    result.text += text;
    if (listening && on_text) listening = on_text(text);
  };

  // Greedy picks may come from the backend's decode fast path: it runs the token and
  // returns the next pick without the logits reaching the host. last_logits_ is then
  // behind the cache (stale) until read back, which happens once, when generate ends.
  bool fast = options_.fast_greedy && is_greedy(params);
  bool stale = false;
  // The pick after the last token when it is already made: by the fast path (while
  // stale), or by verify() where it rejected a draft (the replacement token); else −1.
  int next = -1;
  const auto is_stop = [&](int id) {
    return id == eos || std::find(params.stop_tokens.begin(), params.stop_tokens.end(), id) !=
                            params.stop_tokens.end();
  };
  // Each token is streamed before the forward pass that feeds it; true when the output
  // ends after it (the token is fed all the same, so the session holds prompt + output).
  const auto push = [&](int id) {
    result.tokens.push_back(id);
    if (decoder) emit(stops.push(decoder->push(id)));
    if (stops.matched()) {
      result.finish = FinishReason::StopString;
      return true;
    }
    if (!listening) {
      result.finish = FinishReason::Cancelled;
      return true;
    }
    return false;
  };
  try {
    for (;;) {
      if (cancel && cancel->load()) {
        result.finish = FinishReason::Cancelled;
        break;
      }
      if (result.tokens.size() >= size_t(params.max_tokens) || !positions_.fits(1)) {
        result.finish = FinishReason::Length;  // asked-for length, or a full context
        break;
      }
      int id = next;
      if (id < 0 && heal_text) {
        healed_logits_.resize(size_t(vocab_));
        heal_mask->apply(*heal_text, last_logits_.data(), healed_logits_.data());
        id = sampler_.sample(healed_logits_.data(), params);
      } else if (id < 0) {
        id = sampler_.sample(last_logits_.data(), params);
      }
      heal_text = nullptr;
      next = -1;
      if (is_stop(id)) {
        result.finish = FinishReason::StopToken;
        break;
      }
      const bool ends = push(id);
      const std::vector<int> draft = ends ? std::vector<int>{} : propose(id, params, result.tokens.size());
      ++result.steps;
      if (!draft.empty()) {
        // The accepted drafts are tokens the model picks itself: streamed one by one so
        // that a stop string or a listener that stops ends the output exactly where
        // plain decoding would, with the session cut back to that point.
        const int kept = verify(id, draft, params, &next);
        draft_length_.update(int(draft.size()), kept);
        result.drafted += int(draft.size());
        stale = false;
        bool stopped = false;
        for (int i = 0; i < kept && !stopped; ++i) {
          if (cancel && cancel->load()) {
            // Cancelled while the drafts were verified: nothing more is streamed, as
            // plain decoding streams nothing after the step that saw the flag.
            keep_verified(verify_start_ + size_t(i) + 1);
            result.finish = FinishReason::Cancelled;
            stopped = true;
            break;
          }
          ++result.accepted;  // counted as output, so steps + accepted == tokens
          stopped = push(draft[size_t(i)]);
          if (stopped) keep_verified(verify_start_ + size_t(i) + 2);
        }
        if (stopped) break;
        continue;
      }
      if (fast && cache_->decode_greedy(id, positions_.end(), &next)) {
        check_weights();
        positions_.commit(1);
        tokens_.push_back(id);
        stale = true;
      } else {
        fast = false;  // no fast path on this backend: the plain one from here on
        next = -1;
        feed(&id, 1, nullptr, nullptr);
        stale = false;
      }
      if (ends) break;
    }
    if (stale) {
      cache_->read_last_logits(last_logits_.data());
      stale = false;
    }
  } catch (...) {
    if (stale) {
      try {
        cache_->read_last_logits(last_logits_.data());
      } catch (...) {
        cut(0);  // the invariants hold for an empty session
      }
    }
    throw;
  }

  // Release what was held back: pending UTF-8 bytes and a possible stop-string start.
  if (decoder && !stops.matched()) {
    emit(stops.push(decoder->flush()));
    if (stops.matched()) result.finish = FinishReason::StopString;
    emit(stops.flush());
  }
  return result;
}

std::vector<int> ModelSession::propose(int id, const SamplingParams& params, size_t generated) {
  // Room for drafts: the configured and adaptive lengths, one step's batch (KvCache::
  // single_step_batch), what is left of max_tokens, the slack (rejected drafts are cut off
  // exactly within it) or the context left.
  int64_t room = std::min(options_.max_draft, draft_length_.next());
  if (const int single = cache_->single_step_batch(); single > 0) room = std::min(room, int64_t(single - 1));
  room = std::min<int64_t>(room, int64_t(params.max_tokens) - int64_t(generated));
  if (positions_.window() > 0) {
    room = std::min<int64_t>(room, options_.slack);
  } else {
    room = std::min<int64_t>(room, int64_t(positions_.capacity()) - int64_t(tokens_.size()) - 1);
  }
  if (room <= 0) return {};
  context_.assign(tokens_.begin(), tokens_.end());
  context_.push_back(id);
  std::vector<int> draft = lookup_.draft(context_, int(room));
  // A stop token ends the output before it is fed: never draft through one.
  const int eos = model_->config().eos_id;
  for (size_t i = 0; i < draft.size(); ++i) {
    if (draft[i] == eos || std::find(params.stop_tokens.begin(), params.stop_tokens.end(),
                                     draft[i]) != params.stop_tokens.end()) {
      draft.resize(i);
      break;
    }
  }
  return draft;
}

int ModelSession::verify(int id, const std::vector<int>& draft, const SamplingParams& params,
                         int* next) {
  verify_tokens_.assign(1, id);
  verify_tokens_.insert(verify_tokens_.end(), draft.begin(), draft.end());
  verify_logits_.resize(verify_tokens_.size() * size_t(vocab_));
  verify_start_ = tokens_.size();
  feed(verify_tokens_.data(), verify_tokens_.size(), verify_logits_.data(), nullptr);
  // Row r holds the logits after verify token r. Draft r is kept when the sampler,
  // given it, picks it (engine/sampler.h: greedy, the argmax; sampled, with probability
  // p(draft)); the first pick that differs replaces it and ends the run. When every
  // draft is kept the next pick is sampled from the last row as usual.
  int kept = 0;
  *next = -1;
  while (size_t(kept) < draft.size()) {
    const float* row = verify_logits_.data() + size_t(kept) * size_t(vocab_);
    const int pick = sampler_.sample_with_draft(row, params, draft[size_t(kept)]);
    if (pick != draft[size_t(kept)]) {
      *next = pick;
      break;
    }
    ++kept;
  }
  keep_verified(verify_start_ + 1 + size_t(kept));
  return kept;
}

void ModelSession::keep_verified(size_t length) {
  if (length < tokens_.size()) {
    if (!positions_.can_truncate(int64_t(length))) {
      rollback(length);  // not reached: drafts stay within the slack
      return;
    }
    positions_.truncate(int64_t(length));
    tokens_.resize(length);
  }
  const size_t row = length - 1 - verify_start_;
  std::memcpy(last_logits_.data(), verify_logits_.data() + row * size_t(vocab_),
              sizeof(float) * size_t(vocab_));
}

}  // namespace tramontane
